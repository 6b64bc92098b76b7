"""What a delivery report says about a command being on the log (pure, no broker)."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

from api.command_log import Delivery, delivery_of, delivery_timeout_s


def test_acknowledged_is_on_the_log() -> None:
    assert delivery_of(None) is Delivery.ON_LOG


def test_purged_from_the_queue_was_never_sent() -> None:
    assert delivery_of(KafkaError(KafkaError._PURGE_QUEUE)) is Delivery.NOT_ON_LOG


@pytest.mark.parametrize("code", [KafkaError._MSG_TIMED_OUT, KafkaError._PURGE_INFLIGHT,
                                  KafkaError._TRANSPORT, KafkaError._TIMED_OUT,
                                  KafkaError.NOT_LEADER_FOR_PARTITION,
                                  KafkaError.REQUEST_TIMED_OUT])
def test_anything_else_may_be_on_the_log(code: int) -> None:
    assert delivery_of(KafkaError(code)) is Delivery.MAYBE


@pytest.mark.parametrize("deadline", [1.0, 3.0, 6.0, 15.0, 60.0])
def test_the_delivery_report_comes_before_the_http_deadline(deadline: float) -> None:
    # message timeout + the timeout scanner's second, inside the deadline (or at its floor)
    assert delivery_timeout_s(deadline) + 1.0 <= max(deadline, 2.0)
    assert delivery_timeout_s(deadline) <= 5.0
