"""The API's models hold the domain's statuses and metric names (jobs/statuses.py,
jobs/metric_names.py): a status or a metric added on one side fails here."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

from api.models import Job, MetricName, Metrics
from jobs.metric_names import DECIMAL_METRICS, INT_METRICS, METRIC_NAMES
from jobs.statuses import STATUSES

ROUTERS = Path(__file__).resolve().parents[2] / "api" / "routers"


def test_the_job_status_enum_is_the_domains() -> None:
    assert get_args(Job.model_fields["status"].annotation) == STATUSES
    schema = Job.model_json_schema()
    assert tuple(schema["properties"]["status"]["enum"]) == STATUSES


def test_the_metrics_fields_are_the_domains_names_in_order() -> None:
    assert tuple(Metrics.model_fields) == METRIC_NAMES
    for name in DECIMAL_METRICS:
        assert Metrics.model_fields[name].annotation == str | None, name
    for name in INT_METRICS:
        assert Metrics.model_fields[name].annotation is int, name


def test_a_sweeps_metric_names_are_the_domains() -> None:
    """The objective's and the constraints' `metric` enum (api/models.py, MetricName)."""
    assert get_args(MetricName) == METRIC_NAMES


def test_routers_take_what_they_need_from_dependencies() -> None:
    """api/deps.py hands out the app's objects; a router never reaches into its state."""
    for router in ROUTERS.glob("*.py"):
        assert "app.state" not in router.read_text(), router.name
