"""Walk-forward windows (jobs/walk_forward.py): pure, no broker."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobs.walk_forward import (
    WalkForwardError,
    duration_ms,
    instant_ms,
    iso,
    parse_walk_forward,
    window_config,
)

BASE = {"start": "2024-01-01T00:00:00Z", "end": "2025-01-01T00:00:00Z"}
DAY = 86_400_000


def test_windows_roll_forward_by_the_step_and_stop_before_the_end() -> None:
    plan = parse_walk_forward({"train": "180d", "test": "30d", "step": "30d"}, BASE, 4)
    start, end = instant_ms(BASE["start"], "s"), instant_ms(BASE["end"], "e")
    # 2024 has 366 days: windows start at 0, 30, ... while 210 + 30k <= 366
    assert len(plan.windows) == 6
    first, last = plan.windows[0], plan.windows[-1]
    assert (first.train_start, first.train_end) == (start, start + 180 * DAY)
    assert (first.test_start, first.test_end) == (first.train_end, first.train_end + 30 * DAY)
    assert last.test_end <= end < last.test_end + 30 * DAY
    assert iso(first.test_start) == "2024-06-29T00:00:00Z"


def test_the_child_layout_is_window_major_then_one_test_child_per_window() -> None:
    plan = parse_walk_forward({"train": "180d", "test": "30d", "step": "30d"}, BASE, 4)
    assert plan.total == 6 * 4 + 6
    assert plan.training_index(2, 3) == 11
    assert plan.locate(11) == (2, 3)
    assert plan.test_index(5) == 29
    assert plan.locate(29) == (5, None)
    assert [plan.locate(i) for i in range(plan.total)].count((0, None)) == 1
    with pytest.raises(IndexError):
        plan.locate(plan.total)


@pytest.mark.parametrize("block, path", [
    ({"train": "180d", "test": "30d"}, "walk_forward.step"),
    ({"train": "180x", "test": "30d", "step": "30d"}, "walk_forward.train"),
    ({"train": "0d", "test": "30d", "step": "30d"}, "walk_forward.train"),
    ({"train": 180, "test": "30d", "step": "30d"}, "walk_forward.train"),
    ({"train": "180d", "test": "30d", "step": "30d", "gap": "1d"}, "walk_forward.gap"),
    ({"train": "360d", "test": "30d", "step": "30d"}, "walk_forward"),
    ({"train": "1h", "test": "1h", "step": "1h"}, "walk_forward.step"),  # 8,000+ windows
    ({"train": "90d", "test": "30d", "step": "10d"}, "walk_forward.step"),  # tests overlap
    ("180d", "walk_forward"),
])
def test_a_bad_block_names_its_path(block: object, path: str) -> None:
    with pytest.raises(WalkForwardError) as caught:
        parse_walk_forward(block, BASE, 2)
    assert caught.value.path == path


def test_a_bad_base_span_names_the_base_field() -> None:
    with pytest.raises(WalkForwardError) as caught:
        parse_walk_forward({"train": "1d", "test": "1d", "step": "1d"},
                           {"start": "2024-01-01", "end": BASE["end"]}, 2)
    assert caught.value.path == "base.start"


def test_a_window_config_changes_the_span_alone() -> None:
    config = {"template_id": "grid", "start": BASE["start"], "end": BASE["end"], "fee_bps": 5}
    moved = window_config(config, instant_ms("2024-03-01T00:00:00Z", "s"),
                          instant_ms("2024-04-01T12:00:00Z", "e"))
    assert moved == config | {"start": "2024-03-01T00:00:00Z", "end": "2024-04-01T12:00:00Z"}
    assert config["start"] == BASE["start"]


@given(train=st.integers(1, 200), test=st.integers(1, 60), step=st.integers(1, 60))
def test_every_window_lies_inside_the_base_span_and_tests_after_it_trains(
        train: int, test: int, step: int) -> None:
    block = {"train": f"{train}d", "test": f"{test}d", "step": f"{step}d"}
    try:
        plan = parse_walk_forward(block, BASE, 3)
    except WalkForwardError as exc:
        assert (exc.path == "walk_forward" and train + test > 366
                or exc.path == "walk_forward.step" and step < test)
        return
    start, end = instant_ms(BASE["start"], "s"), instant_ms(BASE["end"], "e")
    for w, window in enumerate(plan.windows):
        assert window.train_start == start + w * step * DAY
        assert window.train_end == window.test_start == window.train_start + train * DAY
        assert window.test_end == window.test_start + test * DAY <= end
    assert plan.windows[-1].train_start + step * DAY + (train + test) * DAY > end
    assert all(a.test_end <= b.test_start for a, b in itertools.pairwise(plan.windows))


def test_durations() -> None:
    assert duration_ms("2d", "x") == 2 * DAY
    assert duration_ms("12h", "x") == 12 * 3_600_000
