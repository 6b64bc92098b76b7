"""Cluster ids for `kafka-storage format`: valid base64 UUIDs that never look like options."""

from __future__ import annotations

import base64

from pipai.broker import new_cluster_id


def test_cluster_ids_are_base64_uuids_never_starting_with_a_dash() -> None:
    ids = {new_cluster_id() for _ in range(5000)}
    assert len(ids) == 5000
    for cluster_id in ids:
        assert len(cluster_id) == 22 and not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16
