"""The seeded chaos suite (`pipai chaos`): faults under load, invariants checked on the log.

- `schedule`: seed -> the faults, their targets and moments (pure, deterministic);
- `faults`: signals to the stack's processes and the broker;
- `load`: creates (with and without Idempotency-Key) and cancels against both API instances;
- `logview`: the topics read back and decoded;
- `invariants`: the promises, as pure functions over the log and the load's answers;
- `runner`: the stack, the iterations, the report lines.
"""
