"""A sweep's request parsed into a `SweepSpec`, and the children it expands to
(docs/api.md, "Sweeps").

Pure: the request body in, frozen values out. The children are never listed up front:
child i's varied values are computed from i alone (a mixed-radix digit per grid path; a
random generator seeded from the sweep's seed and i), so the fan-out, the API's check of
every child and the presentation of one child all agree without holding 100,000 configs.
Random draws use `random.Random.random()` only, the one method Python keeps reproducible
across versions: the same request gives the same children anywhere, at any time.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import random
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import orjson

from jobs.metric_names import METRIC_NAMES
from jobs.walk_forward import WalkForward, WalkForwardError, parse_walk_forward, window_config

MAX_CHILDREN = 100_000
MAX_CONSTRAINTS = 20
MAX_SEGMENTS = 3
GOALS = ("maximize", "minimize")
KINDS = ("int", "uniform", "choice")

_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_DECIMAL = re.compile(r"-?\d+(\.\d+)?", re.ASCII)
_TOP_LEVEL = frozenset({"base", "grid", "random", "objective", "constraints", "early_stop",
                        "walk_forward", "name", "tags"})
_SIGN = 1 << 63
_ALL = (1 << 64) - 1


class SweepSpecError(ValueError):
    """A request the sweep cannot be built from: `path` names the field in the body."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True, slots=True)
class Objective:
    metric: str
    goal: str  # maximize | minimize


@dataclass(frozen=True, slots=True)
class Constraint:
    """metric >= min, or metric <= max (exactly one is set; bounds are inclusive)."""

    metric: str
    min: float | None
    max: float | None


@dataclass(frozen=True, slots=True)
class IntRange:
    lo: int
    hi: int

    def draw(self, u: float) -> int:
        return min(self.lo + math.floor(u * (self.hi - self.lo + 1)), self.hi)


@dataclass(frozen=True, slots=True)
class Uniform:
    lo: float
    hi: float
    as_text: bool  # a bound was a decimal string: the value is one too

    def draw(self, u: float) -> float | str:
        value = self.lo + u * (self.hi - self.lo)
        return _decimal_text(value) if self.as_text else round(value, 6)


@dataclass(frozen=True, slots=True)
class Choice:
    values: tuple[Any, ...]

    def draw(self, u: float) -> Any:
        return self.values[min(math.floor(u * len(self.values)), len(self.values) - 1)]


Dimension = IntRange | Uniform | Choice


@dataclass(frozen=True, slots=True)
class SweepSpec:
    """A validated sweep request. Exactly one of `grid` (the values of each path) and
    `space` (how each path is drawn, with `seed`) is set; both follow `paths`' order."""

    base: dict[str, Any]
    paths: tuple[str, ...]
    total: int  # every child: with walk-forward, each window's combinations and test runs
    objective: Objective
    constraints: tuple[Constraint, ...]
    patience: int | None
    walk_forward: WalkForward | None
    grid: tuple[tuple[Any, ...], ...] | None = None
    space: tuple[Dimension, ...] | None = None
    seed: int | None = None

    @property
    def combos(self) -> int:
        """The combinations of the varied values (each window's, with walk-forward)."""
        return self.total if self.walk_forward is None else self.walk_forward.combos


# ---- parsing -----------------------------------------------------------------------

def parse_sweep(body: Any) -> SweepSpec:
    """The spec of a sweep request; SweepSpecError names the first problem. The spec keeps
    copies of the body's objects, so a later change to the body cannot change a sweep."""
    obj = _object(body, "body")
    _known_keys(obj, _TOP_LEVEL, "")
    if "base" not in obj:
        raise SweepSpecError("base", "is required")
    base = _copy_tree(_object(obj["base"], "base"))
    has_grid, has_random = "grid" in obj, "random" in obj
    if has_grid == has_random:
        where = "random" if has_grid else "grid"
        raise SweepSpecError(where, "exactly one of grid or random is required")
    if has_grid:
        paths, grid = _parse_grid(obj["grid"], base)
        total = math.prod(len(values) for values in grid)
        _within_limit(total, "grid")
        space, seed = None, None
    else:
        paths, space, seed, total = _parse_random(obj["random"], base)
        grid = None
    objective = _parse_objective(obj.get("objective"))
    constraints = _parse_constraints(obj.get("constraints"))
    patience = _parse_early_stop(obj.get("early_stop"))
    plan = _parse_walk_forward(obj.get("walk_forward"), base, total)
    if plan is not None:
        for path in paths:
            if path in ("start", "end"):  # each window sets the span itself
                raise SweepSpecError(f"grid.{path}" if grid is not None else
                                     f"random.space.{path}",
                                     "cannot be varied with walk_forward")
        if patience is not None:  # whose patience: a window's, or the whole sweep's?
            raise SweepSpecError("early_stop", "cannot be combined with walk_forward")
        total = plan.total
        _within_limit(total, "walk_forward")
    return SweepSpec(base=base, paths=paths, total=total, objective=objective,
                     constraints=constraints, patience=patience, walk_forward=plan,
                     grid=grid, space=space, seed=seed)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SweepSpecError(where, "must be an object")
    return value


def _known_keys(obj: dict[str, Any], allowed: frozenset[str] | tuple[str, ...],
                prefix: str) -> None:
    """Refuse a key the request format does not have (a typo must not pass silently)."""
    for key in obj:
        if key not in allowed:
            raise SweepSpecError(f"{prefix}{key}", "unknown field")


def _within_limit(total: int, where: str) -> None:
    if total > MAX_CHILDREN:
        raise SweepSpecError(where, f"{total} children, more than the limit of {MAX_CHILDREN}")


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_decimal(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and _DECIMAL.fullmatch(value) is not None


def _check_path(path: Any, where: str, base: dict[str, Any], earlier: list[str]) -> str:
    """A settable path: well-formed, not through a non-object of the base, and not
    overlapping another varied path (one would overwrite the other)."""
    if not isinstance(path, str):
        raise SweepSpecError(where, "a path must be a string")
    segments = path.split(".")
    if len(segments) > MAX_SEGMENTS:
        raise SweepSpecError(where, f"a path has at most {MAX_SEGMENTS} segments")
    if not all(_SEGMENT.fullmatch(segment) for segment in segments):
        raise SweepSpecError(where, "a path is dotted names (letters, digits, _)")
    node = base
    for depth, segment in enumerate(segments[:-1]):
        if segment not in node:
            break  # created in each child
        node = node[segment]
        if not isinstance(node, dict):
            raise SweepSpecError(where, f"base.{'.'.join(segments[:depth + 1])} is not an object")
    for other in earlier:
        if path.startswith(other + ".") or other.startswith(path + "."):
            raise SweepSpecError(where, f"overlaps {other}")
    return path


def _parse_grid(grid: Any, base: dict[str, Any]
                ) -> tuple[tuple[str, ...], tuple[tuple[Any, ...], ...]]:
    if not isinstance(grid, dict) or not grid:
        raise SweepSpecError("grid", "must be a non-empty object")
    paths: list[str] = []
    values: list[tuple[Any, ...]] = []
    for path, options in grid.items():
        where = f"grid.{path}"
        paths.append(_check_path(path, where, base, paths))
        if not isinstance(options, list) or not options:
            raise SweepSpecError(where, "must be a non-empty list")
        values.append(tuple(_copy_tree(option) for option in options))
    return tuple(paths), tuple(values)


def _parse_random(spec: Any, base: dict[str, Any]
                  ) -> tuple[tuple[str, ...], tuple[Dimension, ...], int, int]:
    """(paths, their dimensions, seed, n) of a random sweep."""
    obj = _object(spec, "random")
    _known_keys(obj, ("n", "seed", "space"), "random.")
    n = obj.get("n")
    if not _is_int(n) or n < 1:
        raise SweepSpecError("random.n", "must be an integer >= 1")
    _within_limit(n, "random.n")
    seed = obj.get("seed")
    if not _is_int(seed):
        raise SweepSpecError("random.seed", "must be an integer")
    space = obj.get("space")
    if not isinstance(space, dict) or not space:
        raise SweepSpecError("random.space", "must be a non-empty object")
    paths: list[str] = []
    dimensions: list[Dimension] = []
    for path, entry in space.items():
        where = f"random.space.{path}"
        paths.append(_check_path(path, where, base, paths))
        dimensions.append(_parse_dimension(entry, where))
    return tuple(paths), tuple(dimensions), seed, n


def _parse_dimension(entry: Any, where: str) -> Dimension:
    obj = _object(entry, where)
    _known_keys(obj, KINDS, f"{where}.")
    if len(obj) != 1:
        raise SweepSpecError(where, "must have exactly one of int, uniform, choice")
    kind, bounds = next(iter(obj.items()))
    where = f"{where}.{kind}"
    if kind == "choice":
        if not isinstance(bounds, list) or not bounds:
            raise SweepSpecError(where, "must be a non-empty list")
        return Choice(tuple(_copy_tree(value) for value in bounds))
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise SweepSpecError(where, "must be [lo, hi]")
    lo, hi = bounds
    if kind == "int":
        return _parse_int_range(lo, hi, where)
    return _parse_uniform(lo, hi, where)


def _parse_int_range(lo: Any, hi: Any, where: str) -> IntRange:
    if not (_is_int(lo) and _is_int(hi)):
        raise SweepSpecError(where, "bounds must be integers")
    if lo > hi:
        raise SweepSpecError(where, "lo must not be above hi")
    return IntRange(lo, hi)


def _parse_uniform(lo: Any, hi: Any, where: str) -> Uniform:
    low, high = _uniform_bound(lo, where), _uniform_bound(hi, where)
    if not low < high:
        raise SweepSpecError(where, "lo must be below hi")
    if not math.isfinite(high - low):
        raise SweepSpecError(where, "bounds are too far apart")
    return Uniform(low, high, as_text=isinstance(lo, str) or isinstance(hi, str))


def _uniform_bound(value: Any, where: str) -> float:
    number = math.nan
    if _is_decimal(value) or isinstance(value, float) or _is_int(value):
        with contextlib.suppress(OverflowError):  # an int beyond the float range
            number = float(value)
    if not math.isfinite(number):
        raise SweepSpecError(where, "bounds must be finite numbers or decimal strings")
    return number


def _parse_objective(value: Any) -> Objective:
    if value is None:
        raise SweepSpecError("objective", "is required")
    obj = _object(value, "objective")
    _known_keys(obj, ("metric", "goal"), "objective.")
    metric = obj.get("metric")
    if metric not in METRIC_NAMES:
        raise SweepSpecError("objective.metric", f"must be one of {', '.join(METRIC_NAMES)}")
    goal = obj.get("goal")
    if goal not in GOALS:
        raise SweepSpecError("objective.goal", "must be maximize or minimize")
    return Objective(metric, goal)


def _parse_constraints(value: Any) -> tuple[Constraint, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise SweepSpecError("constraints", "must be a list")
    if len(value) > MAX_CONSTRAINTS:
        raise SweepSpecError("constraints", f"at most {MAX_CONSTRAINTS} constraints")
    return tuple(_parse_constraint(item, f"constraints[{i}]") for i, item in enumerate(value))


def _parse_constraint(item: Any, where: str) -> Constraint:
    obj = _object(item, where)
    _known_keys(obj, ("metric", "min", "max"), f"{where}.")
    metric = obj.get("metric")
    if metric not in METRIC_NAMES:
        raise SweepSpecError(f"{where}.metric", f"must be one of {', '.join(METRIC_NAMES)}")
    if ("min" in obj) == ("max" in obj):
        raise SweepSpecError(where, "must have exactly one of min or max")
    side = "min" if "min" in obj else "max"
    bound = obj[side]
    if not _is_decimal(bound):
        raise SweepSpecError(f"{where}.{side}", "must be a decimal string")
    number = float(bound)
    if not math.isfinite(number):
        raise SweepSpecError(f"{where}.{side}", "must be a finite decimal")
    return Constraint(metric, number if side == "min" else None,
                      number if side == "max" else None)


def _parse_early_stop(value: Any) -> int | None:
    if value is None:
        return None
    obj = _object(value, "early_stop")
    _known_keys(obj, ("patience",), "early_stop.")
    patience = obj.get("patience")
    if not _is_int(patience) or patience < 1:
        raise SweepSpecError("early_stop.patience", "must be an integer >= 1")
    return patience


def _parse_walk_forward(value: Any, base: dict[str, Any], combos: int) -> WalkForward | None:
    if value is None:
        return None
    try:
        return parse_walk_forward(value, base, combos)
    except WalkForwardError as exc:
        raise SweepSpecError(exc.path, exc.message) from None


@functools.lru_cache(maxsize=64)
def spec_of(config_json: str) -> SweepSpec:
    """The parsed request of a sweep as the log holds it (cached: every child's finish
    and every fold of a sweep event consults it)."""
    return parse_sweep(orjson.loads(config_json))


# ---- children ----------------------------------------------------------------------

def combo_of(spec: SweepSpec, index: int) -> int | None:
    """The combination child `index` runs: itself without walk-forward; a training
    child's within its window; None for a window's test child (its window's choice)."""
    if not 0 <= index < spec.total:
        raise IndexError(f"child {index} of a sweep of {spec.total}")
    return index if spec.walk_forward is None else spec.walk_forward.locate(index)[1]


def varied(spec: SweepSpec, index: int) -> dict[str, Any]:
    """Child `index`'s value of every varied path, in path order (fresh copies). A
    walk-forward test child has none of its own (IndexError): see `window_test_config`."""
    combo = combo_of(spec, index)
    if combo is None:
        raise IndexError(f"child {index} is a walk-forward test run")
    return _combo_values(spec, combo)


def _combo_values(spec: SweepSpec, index: int) -> dict[str, Any]:
    if spec.grid is not None:
        values = _grid_values(spec.grid, index)
    else:
        assert spec.space is not None and spec.seed is not None
        values = _random_values(spec.space, spec.seed, index)
    return {path: _copy_tree(value) for path, value in zip(spec.paths, values, strict=True)}


def _grid_values(grid: tuple[tuple[Any, ...], ...], index: int) -> list[Any]:
    """Mixed-radix digits of `index`, the last path the fastest (itertools.product)."""
    values: list[Any] = []
    for options in reversed(grid):
        index, digit = divmod(index, len(options))
        values.append(options[digit])
    values.reverse()
    return values


def _random_values(space: tuple[Dimension, ...], seed: int, index: int) -> list[Any]:
    """One `random()` per path, from a generator of child `index`'s own: random access."""
    digest = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    return [dimension.draw(rng.random()) for dimension in space]


def child_config(spec: SweepSpec, index: int) -> dict[str, Any]:
    """The base with child `index`'s values set: a config of its own (no object is shared
    with the spec or another child), the nested objects along a path created as needed.
    A walk-forward training child runs on its window's training span."""
    config = _combo_config(spec, varied(spec, index))
    if spec.walk_forward is None:
        return config
    window = spec.walk_forward.windows[spec.walk_forward.locate(index)[0]]
    return window_config(config, window.train_start, window.train_end)


def window_test_config(spec: SweepSpec, window: int, combo: int) -> dict[str, Any]:
    """The config of a walk-forward window's test child: the combination chosen on its
    training span, run on the test span after it."""
    assert spec.walk_forward is not None, "a sweep without walk-forward has no test runs"
    span = spec.walk_forward.windows[window]
    return window_config(_combo_config(spec, _combo_values(spec, combo)),
                         span.test_start, span.test_end)


def _combo_config(spec: SweepSpec, values: dict[str, Any]) -> dict[str, Any]:
    config = _copy_tree(spec.base)
    for path, value in values.items():
        *parents, leaf = path.split(".")
        node = config
        for segment in parents:
            node = node.setdefault(segment, {})
        node[leaf] = value
    return config


def _copy_tree(value: Any) -> Any:
    """A deep copy of JSON data: only dicts and lists are copied (scalars are immutable),
    several times cheaper than copy.deepcopy, run once per child."""
    if isinstance(value, dict):
        return {key: _copy_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_tree(item) for item in value]
    return value


def _decimal_text(value: float) -> str:
    """Rounded to 6 places, without trailing zeros or exponent: "2.5", "3", "-0.000001"."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


# ---- judging children ----------------------------------------------------------------

def metric_value(metrics: Mapping[str, Any], name: str) -> float | None:
    """A metric as a number: decimal strings and ints alike; None when undefined."""
    raw = metrics.get(name)
    if raw is None or isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    try:
        value = float(raw)
    except (ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def objective_value(spec: SweepSpec, metrics: Mapping[str, Any]) -> float | None:
    return metric_value(metrics, spec.objective.metric)


def satisfies(spec: SweepSpec, metrics: Mapping[str, Any]) -> bool:
    """Every constraint holds; an undefined metric holds none (it cannot be compared)."""
    for constraint in spec.constraints:
        value = metric_value(metrics, constraint.metric)
        if value is None:
            return False
        if constraint.min is not None and value < constraint.min:
            return False
        if constraint.max is not None and value > constraint.max:
            return False
    return True


def improves(spec: SweepSpec, value: float, best: float | None) -> bool:
    """Strictly better than the best so far by the goal (a tie keeps the earlier best);
    any number beats no best, NaN never improves."""
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value > best if spec.objective.goal == "maximize" else value < best


def sort_key(spec: SweepSpec, value: float) -> bytes:
    """16 hex digits whose byte order is rank order, best first, so a key-value store
    keeps the leaderboard sorted: the IEEE-754 bits made order-preserving (all bits
    flipped for negatives, the sign bit for the rest), inverted when larger is better.
    -0.0 is folded into 0.0 (`+ 0.0`), so equal values have equal keys."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", value + 0.0))
    bits ^= _ALL if bits & _SIGN else _SIGN
    if spec.objective.goal == "maximize":
        bits ^= _ALL
    return b"%016x" % bits
