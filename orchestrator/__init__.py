"""The orchestrator: the `Orchestrator` class around the jobs decider
(`orchestrator.orchestrator`) and the faust runtime around it (`orchestrator.app`).

Importing this package imports no Kafka client; `orchestrator.app` does.
"""
