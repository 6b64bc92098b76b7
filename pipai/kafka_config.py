"""Kept for importers not yet moved: the client settings live in `pipai.kafka.clients`."""

from pipai.kafka.clients import MAX_MESSAGE_BYTES, consumer_config, producer_config

__all__ = ["MAX_MESSAGE_BYTES", "consumer_config", "producer_config"]
