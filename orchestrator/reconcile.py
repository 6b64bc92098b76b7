"""Recovery of the orchestrator's table from the event log (the source of truth).

At-least-once leaves one window open: events acknowledged by the broker whose
new job state never reached the table's changelog (the process died between the
two). Before a partition's inputs are processed after an assignment, the
orchestrator reads that partition of `events` from the table's watermark (the
offset below which every event is known to be folded into the table) to its end,
and folds what the table lacks. The input processed again then finds its effect
in the state and decides nothing: no event is ever written twice. Work items
and commands that such events called for are sent again (a duplicate work item is
harmless: it runs after the original ended, see docs/architecture.md; a duplicate
command is decided as one: its id, or for a child's end its index, is known).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from jobs.decider import Aggregate, Effect, effects_for, evolve
from jobs.messages import Event, is_event
from pipai.kafka.codec import MessageCodec, PoisonMessage

WATERMARK_KEY = b"\x00events-watermark/%d"


@dataclass
class Reconciliation:
    states: dict[str, Aggregate] = field(default_factory=dict)
    effects: list[Effect] = field(default_factory=list)  # work items and commands
    folded: int = 0
    gaps: list[tuple[str, int]] = field(default_factory=list)


def fold_missing(records: list[tuple[int, bytes]], codec: MessageCodec,
                 load: Callable[[str], Aggregate]) -> Reconciliation:
    """Fold the events the table lacks (pure but for `load`, the table lookup)."""
    out = Reconciliation()
    for _, value in records:
        try:
            event: Event = codec.decode(value)
        except PoisonMessage:  # not an event, so nothing the table can lack
            continue
        if not is_event(event):
            continue
        state = out.states.get(event.job_id) or load(event.job_id)
        if event.seq <= state.seq:
            continue  # already in the table
        if event.seq != state.seq + 1:
            out.gaps.append((event.job_id, event.seq))
            continue
        state = evolve(state, event)
        out.states[event.job_id] = state
        out.folded += 1
        out.effects.extend(effects_for(state, event))
    return out
