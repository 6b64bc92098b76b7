"""Sweep Walk-Forward: a walk-forward sweep's windows and its stitched out-of-sample
curve (docs/api.md, "Walk-forward").

Read from this instance's view: the sweep's fold says which training child each window
chose (jobs/sweep_events.py), the children's own states give their metrics, and the
done test children's full curves and trades are stitched by engine/stitch.py. The
stitched curve is published to the cent, like every curve, and its ten metrics are the
engine's functions over exactly the published points and the test runs' trades (each
trade's pnl times its window's published `scale`), so a client reproduces them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import orjson

from api.presenters import iso
from api.replica import JobsReplica
from engine.results import fixed_all, format_metrics
from engine.stitch import Run, stitch
from jobs.state import JobState
from jobs.statuses import CANCELLED, DONE, QUEUED, RUNNING, TERMINAL
from jobs.sweep_events import NO_CHOICE
from jobs.sweep_space import SweepSpec, spec_of, varied
from jobs.sweep_state import SweepState, child_job_id
from jobs.walk_forward import WalkForward, Window
from projections.jobs_view import JobsView


async def walk_forward_report(jobs: JobsReplica, state: SweepState) -> dict[str, Any] | None:
    """The report, or None if the sweep has no walk-forward plan."""
    spec = spec_of(state.config_json)
    plan = spec.walk_forward
    if plan is None:
        return None
    view = jobs.served()
    windows = [_window(view, state, spec, plan, w) for w in range(len(plan.windows))]
    tested = [(w, view.get(row["test_job_id"])) for w, row in enumerate(windows)
              if row["status"] == DONE]
    runs = [await _run(jobs, test) for _, test in tested if isinstance(test, JobState)]
    stitched = stitch(runs)
    equity_text = fixed_all(stitched.equity.tolist(), 2)
    # the metrics of the points as published (the trades' pnl is already scaled, and
    # `repr` of a scale reads back as the same float)
    published = dataclasses.replace(
        stitched, equity=np.asarray([float(e) for e in equity_text], dtype=np.float64))
    for (w, _), scale in zip(tested, stitched.scales, strict=True):
        windows[w]["scale"] = repr(scale)
    times = [iso(int(t)) for t in stitched.times_ms.tolist()]
    return {
        "sweep_id": state.sweep_id,
        "status": state.status,
        "objective": {"metric": spec.objective.metric, "goal": spec.objective.goal},
        "walk_forward": orjson.loads(state.config_json)["walk_forward"],
        "windows": windows,
        "out_of_sample": {
            "windows": [w for w, _ in tested],
            "equity_curve": [{"time": t, "equity": e}
                             for t, e in zip(times, equity_text, strict=True)],
            "metrics": format_metrics(published.metrics()) if runs else None,
        },
    }


def _window(view: JobsView, state: SweepState, spec: SweepSpec, plan: WalkForward,
            w: int) -> dict[str, Any]:
    window: Window = plan.windows[w]
    chosen = state.window_chosen[w] if state.window_chosen else None
    left = state.window_left[w] if state.window_left else plan.combos
    row: dict[str, Any] = {
        "window": w,
        "status": "training",
        "train": {"start": iso(window.train_start), "end": iso(window.train_end)},
        "test": {"start": iso(window.test_start), "end": iso(window.test_end)},
        "training": {"total": plan.combos, "finished": plan.combos - left},
        "chosen": None, "in_sample": None,
        "test_job_id": None, "out_of_sample": None, "scale": None,
    }
    if chosen is None:
        if state.status in TERMINAL:
            row["status"] = CANCELLED  # the sweep ended before the window chose
        return row
    if chosen == NO_CHOICE:
        row["status"] = "skipped"  # no training child was done within the constraints
        return row
    trained = view.get(child_job_id(state.sweep_id, chosen))
    in_sample = trained.metrics.as_dict() if isinstance(trained, JobState) and \
        trained.metrics is not None else None
    row["chosen"] = {"job_id": child_job_id(state.sweep_id, chosen),
                     "values": varied(spec, chosen),
                     "objective": None if in_sample is None
                     else in_sample[spec.objective.metric]}
    row["in_sample"] = in_sample
    test_id = child_job_id(state.sweep_id, plan.test_index(w))
    row["test_job_id"] = test_id
    test = view.get(test_id)
    status = test.status if isinstance(test, JobState) and test.exists else QUEUED
    row["status"] = "testing" if status in (QUEUED, RUNNING) else status
    if status == DONE and isinstance(test, JobState) and test.metrics is not None:
        row["out_of_sample"] = test.metrics.as_dict()
    return row


async def _run(jobs: JobsReplica, test: JobState) -> Run:
    times, equity = await jobs.curve(test)
    trades = await jobs.full_rows(test, "trades")
    return Run(times_ms=times, equity=equity,
               pnl=np.asarray([float(t["pnl"]) for t in trades], dtype=np.float64),
               entry_ms=_ms([t["entry_time"] for t in trades]),
               exit_ms=_ms([t["exit_time"] for t in trades]))


def _ms(instants: list[str]) -> np.ndarray:
    """"YYYY-MM-DDTHH:MM:SSZ" strings -> epoch ms (numpy parses them without the Z)."""
    return np.asarray([t.rstrip("Z") for t in instants],
                      dtype="datetime64[ms]").astype(np.int64)
