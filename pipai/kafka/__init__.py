"""The Kafka adapter layer: the only place a confluent-kafka client is configured and built
(`clients`), bytes become domain messages (`codec`) and a log is read to its end
(`reader`). docs/architecture.md, "Kafka adapters"."""
