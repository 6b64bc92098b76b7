"""PipAI Backtest: shared platform code (settings, Kafka plumbing, local broker, CLI)."""
