"""Kafka adapters around the engine library: the engine worker (docs/engine.md)."""
