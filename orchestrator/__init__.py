"""The orchestrator: the job decider (pure) and the faust stream processor around it.

Importing this package imports no Kafka client; `orchestrator.app` does.
"""
