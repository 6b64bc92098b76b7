"""The command line and the local stack supervisor: the top layer, above the API
(docs/architecture.md)."""
