"""Writer schemas shared through the schemas topic: an old reader in another process
resolves a newer writer's record (an added defaulted field) on the real broker."""

from __future__ import annotations

import json
import uuid

import pytest

from jobs.messages import CancelJob, from_record
from pipai.schema_log import kafka_codec, load_schemas, publish_schemas
from pipai.settings import Settings
from pipai.topics import ensure_topics
from schemas.codec import SCHEMA_DIR, Codec, SchemaStore

pytestmark = pytest.mark.integration


def test_old_reader_resolves_a_newer_writer_from_the_topic(kafka_bootstrap: str) -> None:
    settings = Settings(bootstrap_servers=kafka_bootstrap,
                        topic_prefix=f"schemas.{uuid.uuid4().hex[:8]}")
    ensure_topics(settings)
    newer = json.loads((SCHEMA_DIR / "CancelJob.avsc").read_text())
    newer["fields"].append({"name": "requested_via", "type": "string", "default": "api"})
    writer_store = SchemaStore()
    writer_store.add(newer)
    publish_schemas(settings, writer_store)  # what the newer deployment does at start
    data = Codec(writer_store).encode("CancelJob", {
        "command_id": "c1", "job_id": "bt_9", "owner": "o", "reason": "r",
        "issued_at": 5, "correlation_id": "c1", "requested_via": "cli"})

    reader = kafka_codec(settings, publish=False)  # bundled (older) schemas only
    name, record = reader.decode(data)
    assert from_record(name, record) == CancelJob("c1", "bt_9", "o", 5, "c1", "r")

    fresh = SchemaStore()
    assert load_schemas(settings, fresh) == 1
    assert load_schemas(settings, fresh) == 0  # idempotent
