"""Which fault each iteration injects, on which process, at which moment: a pure
function of the seed, so a failing seed replays the same schedule.

Iteration i of seed S draws from its own generator (`Random(f"{S}:{i}")`), so the
schedule of an iteration does not depend on how many iterations run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# The faults of docs/architecture.md ("Chaos suite"), by name.
ORCHESTRATOR_SIGKILL = "orchestrator-sigkill"
ORCHESTRATOR_SIGSTOP = "orchestrator-sigstop"
ENGINE_SIGKILL = "engine-sigkill"
ENGINE_SIGSTOP = "engine-sigstop"
API_SIGKILL = "api-sigkill"
API_SIGSTOP = "api-sigstop"
BROKER_SIGKILL = "broker-sigkill"
BROKER_SIGSTOP = "broker-sigstop"
BROKER_RESTART = "broker-restart"
ENGINE_CRASHLOOP = "engine-crashloop"

FAULTS = (
    ORCHESTRATOR_SIGKILL, ORCHESTRATOR_SIGSTOP, ENGINE_SIGKILL, ENGINE_SIGSTOP,
    API_SIGKILL, API_SIGSTOP, BROKER_SIGKILL, BROKER_SIGSTOP, BROKER_RESTART,
    ENGINE_CRASHLOOP,
)

# The processes a fault can hit (names of the chaos stack's children; "broker" is the JVM).
TARGETS: dict[str, tuple[str, ...]] = {
    "orchestrator": ("orchestrator", "orchestrator-b"),
    "engine": ("engine-0", "engine-1"),
    "api": ("api", "api-b"),
    "broker": ("broker",),
}

# Seconds after the iteration's load starts; a SIGSTOP lasts `pause_s`, a crash loop `pause_s`
# too (its bound is the runner's: long enough to outlast heartbeat timeout x attempts).
MOMENT_RANGE_S = (0.5, 4.0)
PAUSE_RANGE_S = (1.0, 6.0)


@dataclass(frozen=True)
class Step:
    iteration: int
    fault: str
    target: str
    moment_s: float
    pause_s: float

    def describe(self) -> str:
        pause = f" pause={self.pause_s:.1f}s" if "sigstop" in self.fault else ""
        return f"{self.fault} target={self.target} moment={self.moment_s:.1f}s{pause}"


def component(fault: str) -> str:
    return fault.split("-", 1)[0]


def step(seed: int, iteration: int, faults: tuple[str, ...] = FAULTS) -> Step:
    """The fault of one iteration. With `faults` given, iteration i injects
    faults[i % len(faults)] (a fixed cycle, e.g. for CI); targets and moments stay seeded."""
    rng = random.Random(f"{seed}:{iteration}")
    drawn = rng.choice(FAULTS)  # always drawn, so the other draws do not depend on `faults`
    fault = drawn if faults == FAULTS else faults[iteration % len(faults)]
    target = rng.choice(TARGETS[component(fault)])
    moment = round(rng.uniform(*MOMENT_RANGE_S), 1)
    pause = round(rng.uniform(*PAUSE_RANGE_S), 1)
    return Step(iteration, fault, target, moment, pause)


def schedule(seed: int, iterations: int, faults: tuple[str, ...] = FAULTS) -> list[Step]:
    unknown = [f for f in faults if f not in FAULTS]
    if unknown or not faults:
        raise ValueError(f"unknown faults {unknown}; choose from {', '.join(FAULTS)}")
    return [step(seed, i, faults) for i in range(iterations)]
