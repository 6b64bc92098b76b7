"""`jobs.sweep_space`: a sweep request's validation (each error's path), the children's
order and values by random access (grid product order; random draws pinned by golden
values so a change of the drawing rule fails here), the child configs, and the
objective, constraints and sort keys the leaderboard ranks by."""

from __future__ import annotations

import copy
import itertools
import math
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobs.sweep_space import (
    MAX_CHILDREN,
    Constraint,
    Objective,
    SweepSpec,
    SweepSpecError,
    Uniform,
    child_config,
    combo_of,
    improves,
    metric_value,
    objective_value,
    parse_sweep,
    satisfies,
    sort_key,
    varied,
    window_test_config,
)

BASE: dict[str, Any] = {
    "template_id": "tpl_sma_cross", "params": {"fast": 10, "slow": 50},
    "symbols": ["BTCUSDT"], "timeframe": "1h", "start": "2025-01-01T00:00:00Z",
    "end": "2025-02-01T00:00:00Z", "capital": "10000.00", "leverage": 1,
    "fee_model": "fixed_bps", "fee_bps": "5",
}
MAXIMIZE = {"metric": "sharpe", "goal": "maximize"}
MINIMIZE = {"metric": "max_drawdown", "goal": "minimize"}
DECIMAL = re.compile(r"-?\d+(\.\d+)?")


def grid_body(grid: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"base": copy.deepcopy(BASE), "grid": grid, "objective": MAXIMIZE, **extra}


def random_body(space: dict[str, Any], n: int = 10, seed: int = 7,
                **extra: Any) -> dict[str, Any]:
    return {"base": copy.deepcopy(BASE), "random": {"n": n, "seed": seed, "space": space},
            "objective": MAXIMIZE, **extra}


def spec_with(objective: dict[str, str], constraints: list[dict[str, str]] | None = None
              ) -> SweepSpec:
    return parse_sweep(grid_body({"leverage": [1]}, objective=objective,
                                 constraints=constraints or []))


# ---- grid ------------------------------------------------------------------------

def test_a_grid_is_the_product_of_its_lists_the_last_path_fastest() -> None:
    spec = parse_sweep(grid_body({"params.fast": [5, 10], "params.slow": [30, 40, 50]}))
    assert spec.paths == ("params.fast", "params.slow") and spec.total == 6
    assert [tuple(varied(spec, i).values()) for i in range(6)] == [
        (5, 30), (5, 40), (5, 50), (10, 30), (10, 40), (10, 50)]


def test_a_three_key_grid_s_first_and_last_child() -> None:
    spec = parse_sweep(grid_body({"leverage": [1, 2, 3], "params.fast": [5, 10],
                                  "timeframe": ["1h", "4h", "1d", "1w"]}))
    assert spec.total == 24
    assert varied(spec, 0) == {"leverage": 1, "params.fast": 5, "timeframe": "1h"}
    assert varied(spec, 23) == {"leverage": 3, "params.fast": 10, "timeframe": "1w"}
    assert varied(spec, 4) == {"leverage": 1, "params.fast": 10, "timeframe": "1h"}


@given(st.lists(st.integers(1, 5), min_size=1, max_size=3))
def test_grid_random_access_equals_itertools_product(sizes: list[int]) -> None:
    paths = ["leverage", "params.fast", "params.extra.depth"][:len(sizes)]
    grid = {path: [f"{path}#{k}" for k in range(size)]
            for path, size in zip(paths, sizes, strict=True)}
    spec = parse_sweep(grid_body(grid))
    expected = list(itertools.product(*grid.values()))
    assert spec.total == len(expected)
    assert [tuple(varied(spec, i).values()) for i in range(spec.total)] == expected


def test_a_child_outside_the_sweep_is_an_index_error() -> None:
    spec = parse_sweep(grid_body({"leverage": [1, 2]}))
    for index in (-1, 2):
        with pytest.raises(IndexError):
            varied(spec, index)
        with pytest.raises(IndexError):
            child_config(spec, index)


# ---- random ------------------------------------------------------------------------

SPACE: dict[str, Any] = {"params.fast": {"int": [2, 50]}, "fee_bps": {"uniform": ["1", "10"]},
                         "leverage": {"uniform": [1, 3]},
                         "timeframe": {"choice": ["1h", "4h", "1d"]}}


def test_random_children_are_pinned_golden_values() -> None:
    """Child i of seed 7: Random(sha256("7:i")[:8]).random() once per path, in order
    (u = 0.54906..., 0.69637..., 0.44484..., 0.82221... for child 0)."""
    spec = parse_sweep(random_body(SPACE))
    assert spec.total == 10 and spec.seed == 7
    assert varied(spec, 0) == {"params.fast": 28, "fee_bps": "7.267408",
                               "leverage": 1.889683, "timeframe": "1d"}
    assert varied(spec, 1) == {"params.fast": 4, "fee_bps": "9.176811",
                               "leverage": 2.381087, "timeframe": "4h"}


def test_random_children_are_the_same_across_parses() -> None:
    first, second = parse_sweep(random_body(SPACE)), parse_sweep(random_body(SPACE))
    assert first == second
    assert [varied(first, i) for i in range(10)] == [varied(second, i) for i in range(10)]
    other_seed = parse_sweep(random_body(SPACE, seed=8))
    assert [varied(first, i) for i in range(10)] != [varied(other_seed, i) for i in range(10)]


@given(st.permutations(list(range(20))), st.integers(-(10**12), 10**12))
def test_random_children_do_not_depend_on_the_order_they_are_asked(
        order: list[int], seed: int) -> None:
    spec = parse_sweep(random_body(SPACE, n=20, seed=seed))
    in_order = [varied(spec, i) for i in range(20)]
    shuffled = {i: varied(spec, i) for i in order}
    assert [shuffled[i] for i in range(20)] == in_order


@given(st.integers(0, 10**9))
def test_random_values_stay_within_their_bounds(seed: int) -> None:
    spec = parse_sweep(random_body({"a": {"int": [-3, 3]}, "b": {"uniform": [-1.5, 2]},
                                    "c": {"uniform": ["-1", "0.5"]},
                                    "d": {"choice": [[1], {"x": 2}, None]}},
                                   n=50, seed=seed))
    for i in range(spec.total):
        values = varied(spec, i)
        assert isinstance(values["a"], int) and -3 <= values["a"] <= 3
        assert isinstance(values["b"], float) and -1.5 <= values["b"] <= 2
        assert DECIMAL.fullmatch(values["c"]) and -1 <= float(values["c"]) <= 0.5
        assert values["d"] in ([1], {"x": 2}, None)


def test_an_int_range_of_one_value_and_a_choice_of_one() -> None:
    spec = parse_sweep(random_body({"leverage": {"int": [3, 3]},
                                    "symbols": {"choice": [["ETHUSDT"]]}}, n=5))
    assert all(varied(spec, i) == {"leverage": 3, "symbols": ["ETHUSDT"]} for i in range(5))


@pytest.mark.parametrize(("lo", "hi", "u", "expected"), [
    (2.0, 3.0, 0.5, "2.5"), (2.0, 3.0, 0.0, "2"), (0.0, 1.0, 0.1234564, "0.123456"),
    (0.0, 1.0, 0.1234566, "0.123457"), (-1.0, 1.0, 0.4999999999, "0"),
    (-1.0, 1.0, 0.4999995, "-0.000001"), (0.0, 1e7, 0.5, "5000000"),
])
def test_a_uniform_with_a_decimal_string_bound_draws_decimal_strings(
        lo: float, hi: float, u: float, expected: str) -> None:
    assert Uniform(lo, hi, as_text=True).draw(u) == expected


def test_a_uniform_of_numbers_draws_floats_rounded_to_6_places() -> None:
    assert Uniform(0.0, 1.0, as_text=False).draw(0.1234566) == 0.123457
    assert Uniform(2.0, 3.0, as_text=False).draw(0.5) == 2.5


@given(st.floats(0, 1, exclude_max=True))
def test_a_uniform_decimal_string_has_no_exponent_nor_trailing_zeros(u: float) -> None:
    text = Uniform(-0.00002, 0.00001, as_text=True).draw(u)
    assert isinstance(text, str) and DECIMAL.fullmatch(text)
    assert not ("." in text and text.endswith("0")) and text != "-0"
    assert len(text.partition(".")[2]) <= 6


# ---- child configs ----------------------------------------------------------------

def test_child_config_sets_the_values_on_a_copy_of_the_base() -> None:
    body = grid_body({"params.fast": [5, 7], "params.new.depth": [1],
                      "symbols": [["ETHUSDT"], ["BTCUSDT", "ETHUSDT"]]})
    before = copy.deepcopy(body)
    spec = parse_sweep(body)
    child = child_config(spec, 3)
    assert child == {**BASE, "params": {"fast": 7, "slow": 50, "new": {"depth": 1}},
                     "symbols": ["BTCUSDT", "ETHUSDT"]}
    assert body == before and spec.base == BASE


def test_child_configs_share_no_object_with_the_spec_or_each_other() -> None:
    spec = parse_sweep(grid_body({"params.fast": [5, 7], "symbols": [["ETHUSDT"]]}))
    first, second = child_config(spec, 0), child_config(spec, 1)
    first["params"]["slow"] = 99
    first["symbols"].append("XRPUSDT")
    second["params"]["fast"] = 0
    assert spec.base == BASE and spec.grid == ((5, 7), (["ETHUSDT"],))
    assert child_config(spec, 0) == {**BASE, "params": {"fast": 5, "slow": 50},
                                     "symbols": ["ETHUSDT"]}


def test_the_spec_keeps_its_own_copy_of_the_body() -> None:
    body = grid_body({"symbols": [["ETHUSDT"]]})
    spec = parse_sweep(body)
    body["base"]["params"]["fast"] = 1
    body["grid"]["symbols"][0].append("XRPUSDT")
    assert child_config(spec, 0)["params"]["fast"] == 10
    assert varied(spec, 0) == {"symbols": ["ETHUSDT"]}


def test_optional_fields_name_tags_and_early_stop() -> None:
    spec = parse_sweep(grid_body({"leverage": [1, 2]}, name="fast sweep", tags=["a"],
                                 early_stop={"patience": 4},
                                 constraints=[{"metric": "win_rate", "min": "0.4"}]))
    assert spec.walk_forward is None and spec.patience == 4
    assert spec.objective == Objective("sharpe", "maximize")
    assert spec.constraints == (Constraint("win_rate", 0.4, None),)
    bare = parse_sweep(grid_body({"leverage": [1]}))
    assert bare.walk_forward is None and bare.patience is None and bare.constraints == ()


# ---- errors -------------------------------------------------------------------------

def _replace(body: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    return {**body, key: value}


GRID = grid_body({"params.fast": [5, 10]})
WF = {"train": "14d", "test": "7d", "step": "7d"}
RANDOM = random_body({"fee_bps": {"uniform": ["1", "10"]}})
BAD_BODIES: list[tuple[Any, str]] = [
    ([], "body"),
    (_replace(GRID, "extra", 1), "extra"),
    ({k: v for k, v in GRID.items() if k != "base"}, "base"),
    (_replace(GRID, "base", []), "base"),
    ({k: v for k, v in GRID.items() if k != "grid"}, "grid"),
    ({**GRID, "random": RANDOM["random"]}, "random"),
    (_replace(GRID, "grid", {}), "grid"),
    (_replace(GRID, "grid", [1]), "grid"),
    (_replace(GRID, "grid", {"params.fast": []}), "grid.params.fast"),
    (_replace(GRID, "grid", {"params.fast": 5}), "grid.params.fast"),
    (_replace(GRID, "grid", {"params..fast": [1]}), "grid.params..fast"),
    (_replace(GRID, "grid", {"a.b.c.d": [1]}), "grid.a.b.c.d"),
    (_replace(GRID, "grid", {"1x": [1]}), "grid.1x"),
    (_replace(GRID, "grid", {"params.fast-x": [1]}), "grid.params.fast-x"),
    (_replace(GRID, "grid", {"leverage.x": [1]}), "grid.leverage.x"),
    (_replace(GRID, "grid", {"symbols.x.y": [1]}), "grid.symbols.x.y"),
    (_replace(GRID, "grid", {"params": [{}], "params.fast": [1]}), "grid.params.fast"),
    (_replace(RANDOM, "random", []), "random"),
    (_replace(RANDOM, "random", {**RANDOM["random"], "m": 1}), "random.m"),
    (_replace(RANDOM, "random", {**RANDOM["random"], "n": 0}), "random.n"),
    (_replace(RANDOM, "random", {**RANDOM["random"], "n": True}), "random.n"),
    (_replace(RANDOM, "random", {**RANDOM["random"], "n": 2.0}), "random.n"),
    (_replace(RANDOM, "random", {"n": 1, "space": RANDOM["random"]["space"]}), "random.seed"),
    (_replace(RANDOM, "random", {**RANDOM["random"], "seed": "7"}), "random.seed"),
    (_replace(RANDOM, "random", {**RANDOM["random"], "space": {}}), "random.space"),
    (_replace(RANDOM, "random", {"n": 1, "seed": 1, "space": {"fee_bps": [1, 2]}}),
     "random.space.fee_bps"),
    (_replace(RANDOM, "random", {"n": 1, "seed": 1, "space": {"fee_bps": {}}}),
     "random.space.fee_bps"),
    (_replace(RANDOM, "random", {"n": 1, "seed": 1, "space": {
        "fee_bps": {"int": [1, 2], "choice": [1]}}}), "random.space.fee_bps"),
    (_replace(RANDOM, "random", {"n": 1, "seed": 1, "space": {
        "fee_bps": {"normal": [0, 1]}}}), "random.space.fee_bps.normal"),
    (_replace(RANDOM, "random", {"n": 1, "seed": 1, "space": {"x..y": {"int": [1, 2]}}}),
     "random.space.x..y"),
    (_replace(RANDOM, "random", {"n": 1, "seed": 1, "space": {
        "leverage.x": {"int": [1, 2]}}}), "random.space.leverage.x"),
]
for bad, where in [([1], "int"), ([1, 2, 3], "int"), ([1.0, 2], "int"), ([3, 2], "int"),
                   ([True, 2], "int"), ([2, 2], "uniform"), (["2", 1], "uniform"),
                   (["1e3", "2e3"], "uniform"), (["1.", "2"], "uniform"),
                   ([1, float("inf")], "uniform"), ([None, 1], "uniform"),
                   ([-1e308, 1e308], "uniform"), ([], "choice"), ("abc", "choice")]:
    BAD_BODIES.append((_replace(RANDOM, "random", {"n": 1, "seed": 1, "space": {
        "fee_bps": {where: bad}}}), f"random.space.fee_bps.{where}"))
BAD_BODIES += [
    ({k: v for k, v in GRID.items() if k != "objective"}, "objective"),
    (_replace(GRID, "objective", "sharpe"), "objective"),
    (_replace(GRID, "objective", {**MAXIMIZE, "weight": 1}), "objective.weight"),
    (_replace(GRID, "objective", {"metric": "profit", "goal": "maximize"}), "objective.metric"),
    (_replace(GRID, "objective", {"metric": "sharpe"}), "objective.goal"),
    (_replace(GRID, "objective", {"metric": "sharpe", "goal": "max"}), "objective.goal"),
    (_replace(GRID, "constraints", {"metric": "sharpe", "min": "1"}), "constraints"),
    (_replace(GRID, "constraints", [{"metric": "sharpe", "min": "1"}] * 21), "constraints"),
    (_replace(GRID, "constraints", [{"metric": "sharpe", "min": "1"}, "x"]), "constraints[1]"),
    (_replace(GRID, "constraints", [{"metric": "sharpe", "min": "1"},
                                    {"metric": "sharpe", "min": 1}]), "constraints[1].min"),
    (_replace(GRID, "constraints", [{"metric": "sharpe", "max": "1e2"}]), "constraints[0].max"),
    (_replace(GRID, "constraints", [{"metric": "alpha", "max": "1"}]), "constraints[0].metric"),
    (_replace(GRID, "constraints", [{"metric": "sharpe"}]), "constraints[0]"),
    (_replace(GRID, "constraints", [{"metric": "sharpe", "min": "0", "max": "1"}]),
     "constraints[0]"),
    (_replace(GRID, "constraints", [{"metric": "sharpe", "min": "0", "or": "1"}]),
     "constraints[0].or"),
    (_replace(GRID, "early_stop", 5), "early_stop"),
    (_replace(GRID, "early_stop", {}), "early_stop.patience"),
    (_replace(GRID, "early_stop", {"patience": 0}), "early_stop.patience"),
    (_replace(GRID, "early_stop", {"patience": 1, "min_delta": "0"}), "early_stop.min_delta"),
    (_replace(GRID, "walk_forward", [1]), "walk_forward"),
    (_replace(GRID, "walk_forward", {"folds": 3}), "walk_forward.folds"),
    (_replace(GRID, "walk_forward", {"train": "20d", "test": "20d", "step": "20d"}),
     "walk_forward"),  # longer than the base's January
    ({**GRID, "walk_forward": WF, "early_stop": {"patience": 2}}, "early_stop"),
    (_replace(grid_body({"start": ["2025-01-02T00:00:00Z"]}), "walk_forward", WF),
     "grid.start"),
]


@pytest.mark.parametrize(("body", "path"), BAD_BODIES)
def test_every_problem_names_its_path(body: Any, path: str) -> None:
    with pytest.raises(SweepSpecError) as caught:
        parse_sweep(body)
    assert caught.value.path == path
    assert str(caught.value) == f"{path}: {caught.value.message}" and caught.value.message


def test_the_error_is_a_value_error_with_a_readable_message() -> None:
    with pytest.raises(ValueError, match=r"^grid\.params\.fast: must be a non-empty list$"):
        parse_sweep(_replace(GRID, "grid", {"params.fast": []}))
    with pytest.raises(SweepSpecError, match=r"^grid\.leverage\.x: base\.leverage is not"):
        parse_sweep(_replace(GRID, "grid", {"leverage.x": [1]}))


def test_at_most_100000_children() -> None:
    assert MAX_CHILDREN == 100_000
    accepted = parse_sweep(grid_body({"params.fast": list(range(400)),
                                      "params.slow": list(range(250))}))
    assert accepted.total == 100_000
    assert varied(accepted, 99_999) == {"params.fast": 399, "params.slow": 249}
    with pytest.raises(SweepSpecError) as caught:
        parse_sweep(grid_body({"params.fast": list(range(400)),
                               "params.slow": list(range(251))}))
    assert caught.value.path == "grid"
    assert "100400" in caught.value.message and "100000" in caught.value.message
    assert parse_sweep(random_body(SPACE, n=100_000)).total == 100_000
    with pytest.raises(SweepSpecError) as caught:
        parse_sweep(random_body(SPACE, n=100_001))
    assert caught.value.path == "random.n" and "100001" in caught.value.message


# ---- judging children ------------------------------------------------------------------

def test_metric_value_reads_decimal_strings_and_ints() -> None:
    metrics = {"sharpe": "1.25", "total_trades": 12, "calmar": None, "cagr": "nan",
               "sortino": "inf", "win_rate": True, "expected_value": 0.5}
    assert metric_value(metrics, "sharpe") == 1.25
    assert metric_value(metrics, "total_trades") == 12.0
    assert metric_value(metrics, "expected_value") == 0.5
    for undefined in ("calmar", "cagr", "sortino", "win_rate", "max_drawdown"):
        assert metric_value(metrics, undefined) is None


def test_objective_value_is_the_objective_metric() -> None:
    spec = spec_with(MINIMIZE)
    assert objective_value(spec, {"max_drawdown": "-0.25", "sharpe": "2"}) == -0.25
    assert objective_value(spec, {"max_drawdown": None}) is None
    assert objective_value(spec, {}) is None


def test_constraints_are_inclusive_and_fail_on_undefined_metrics() -> None:
    spec = spec_with(MAXIMIZE, [{"metric": "max_drawdown", "min": "-0.5"},
                                {"metric": "total_trades", "max": "100"}])
    assert satisfies(spec, {"max_drawdown": "-0.5", "total_trades": 100})
    assert satisfies(spec, {"max_drawdown": "0", "total_trades": 0})
    assert not satisfies(spec, {"max_drawdown": "-0.5000001", "total_trades": 3})
    assert not satisfies(spec, {"max_drawdown": "-0.1", "total_trades": 101})
    assert not satisfies(spec, {"max_drawdown": None, "total_trades": 3})
    assert not satisfies(spec, {"total_trades": 3})
    assert satisfies(spec_with(MAXIMIZE), {"sharpe": None})


def test_improves_is_strict_by_the_goal_and_anything_beats_none() -> None:
    up, down = spec_with(MAXIMIZE), spec_with(MINIMIZE)
    assert improves(up, -5.0, None) and improves(down, 5.0, None)
    assert improves(up, 2.0, 1.0) and not improves(up, 1.0, 1.0) and not improves(up, 0.5, 1.0)
    assert improves(down, 0.5, 1.0) and not improves(down, 1.0, 1.0)
    assert not improves(down, 2.0, 1.0)
    assert not improves(up, math.nan, None) and not improves(up, math.nan, 1.0)


finite = st.floats(allow_nan=False)


@given(finite, finite)
def test_sort_key_orders_best_first_for_both_goals(a: float, b: float) -> None:
    up, down = spec_with(MAXIMIZE), spec_with(MINIMIZE)
    for spec in (up, down):
        key = sort_key(spec, a)
        assert len(key) == 16 and re.fullmatch(rb"[0-9a-f]{16}", key)
    if a < b:
        assert sort_key(down, a) < sort_key(down, b)
        assert sort_key(up, a) > sort_key(up, b)
    elif a == b:
        assert sort_key(down, a) == sort_key(down, b) and sort_key(up, a) == sort_key(up, b)


def test_sort_key_with_negatives_and_zero() -> None:
    values = [-math.inf, -1e300, -2.5, -1.0, -5e-324, 0.0, 5e-324, 1.0, 2.5, 1e300, math.inf]
    down, up = spec_with(MINIMIZE), spec_with(MAXIMIZE)
    assert sorted(values, key=lambda v: sort_key(down, v)) == values
    assert sorted(values, key=lambda v: sort_key(up, v)) == values[::-1]
    assert sort_key(down, -0.0) == sort_key(down, 0.0) == b"8000000000000000"
    assert sort_key(up, 0.0) == b"7fffffffffffffff"


# ---- walk-forward ----------------------------------------------------------------------

def test_walk_forward_runs_every_combination_on_every_training_span() -> None:
    spec = parse_sweep(grid_body({"params.fast": [5, 10, 20]}, walk_forward=WF))
    assert spec.walk_forward is not None
    # January 2025: windows train on 1-15, 8-22 and test the 7 days after each
    assert len(spec.walk_forward.windows) == 2
    assert (spec.combos, spec.total) == (3, 2 * 3 + 2)
    assert [combo_of(spec, i) for i in range(spec.total)] == [0, 1, 2, 0, 1, 2, None, None]
    fourth = child_config(spec, 4)
    assert (fourth["params"]["fast"], fourth["start"], fourth["end"]) == (
        10, "2025-01-08T00:00:00Z", "2025-01-22T00:00:00Z")
    assert varied(spec, 4) == {"params.fast": 10}
    with pytest.raises(IndexError):
        varied(spec, 6)  # a test run's values are its window's choice
    chosen = window_test_config(spec, 1, 2)
    assert chosen == BASE | {"params": {"fast": 20, "slow": 50},
                             "start": "2025-01-22T00:00:00Z", "end": "2025-01-29T00:00:00Z"}


def test_walk_forward_counts_against_the_children_limit() -> None:
    body = grid_body({"params.fast": list(range(1, 40_001))},
                     walk_forward={"train": "7d", "test": "7d", "step": "7d"})
    with pytest.raises(SweepSpecError) as caught:
        parse_sweep(body)  # 3 windows x 40,000 combinations
    assert caught.value.path == "walk_forward"
