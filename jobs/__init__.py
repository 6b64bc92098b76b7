"""The job domain: its messages, the decider, its state and the audit rules. Pure: no Kafka,
HTTP or RocksDB (docs/architecture.md)."""
