"""Tests for hpopt.search_space: types, grid rules, encoding to [0, 1], validation messages, JSON form."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from hpopt.search_space import (
    SPACE_TYPES,
    SearchSpace,
    decode_params,
    encode_params,
    normalize_space,
    sample_params,
    search_space,
    space_from_json,
    space_to_json,
)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _qlog_cell_probs(values: list[float]) -> np.ndarray:
    """Expected qloguniform probabilities, computed independently from the documented cell rule."""
    edges = [math.log(values[0])]
    edges += [math.log((a + b) / 2) for a, b in zip(values[:-1], values[1:], strict=True)]
    edges.append(math.log(values[-1]))
    widths = np.diff(edges)
    return widths / widths.sum()


# --------------------------------------------------------------------------- basics and compatibility


def test_alias_and_types() -> None:
    assert search_space is SearchSpace
    assert SPACE_TYPES == ("uniform", "quniform", "loguniform", "qloguniform", "choice")
    sp = search_space("quniform", [5, 20, 10])
    assert isinstance(sp, SearchSpace)
    assert repr(sp) == "SearchSpace('quniform', [5, 20, 10])"
    assert repr(sp.named("bs")) == "SearchSpace('quniform', [5, 20, 10], name='bs')"


def test_caller_list_is_copied_not_mutated() -> None:
    rng_list = [1e-4, 1e-1]
    sp = SearchSpace("loguniform", rng_list)
    assert rng_list == [1e-4, 1e-1]  # no base appended
    assert sp.range == [1e-4, 1e-1]
    assert sp.base == 2.0
    rng_list[1] = 10.0
    assert sp.upper == 0.1
    got = sp.range
    got.append(3)
    assert sp.range == [1e-4, 1e-1]


def test_numpy_scalars_are_normalized() -> None:
    sp = SearchSpace("quniform", (np.int64(8), np.int64(64), np.int64(8)))
    assert sp.range == [8, 64, 8]
    assert all(type(v) is int for v in sp.range)
    assert sp.is_integer
    assert json.dumps(sp.to_dict())


def test_attributes_uniform() -> None:
    sp = SearchSpace("uniform", [0, 2])
    assert (sp.lower, sp.upper, sp.q, sp.base, sp.choices) == (0.0, 2.0, None, None, None)
    assert not (sp.is_log or sp.is_quantized or sp.is_choice or sp.is_integer)
    assert sp.num_values is None


def test_uniform_sample_encode_decode() -> None:
    sp = SearchSpace("uniform", [-1.0, 3.0])
    values = [sp.sample(_rng(s)) for s in range(200)]
    assert all(type(v) is float and -1.0 <= v <= 3.0 for v in values)
    assert sp.encode(1.0) == pytest.approx(0.5)
    assert sp.decode(0.25) == pytest.approx(0.0)
    assert sp.decode(-5) == -1.0 and sp.decode(7) == 3.0
    assert sp.decode(math.inf) == 3.0 and sp.decode(-math.inf) == -1.0
    assert sp.contains(3.0) and sp.contains(3.0 + 1e-12) and not sp.contains(3.1)
    assert not sp.contains(True) and not sp.contains("1") and not sp.contains(math.nan)


# --------------------------------------------------------------------------- quniform


def test_quniform_5_20_10_gives_only_5_and_15_as_int() -> None:
    sp = SearchSpace("quniform", [5, 20, 10])
    assert sp.lower == 5 and sp.upper == 15 and sp.is_integer
    rng = _rng(1)
    seen = Counter(sp.sample(rng) for _ in range(2000))
    assert set(seen) == {5, 15}
    assert all(type(v) is int for v in seen)
    assert abs(seen[5] - seen[15]) < 200  # equal probability
    assert sp.decode(0.0) == 5 and sp.decode(0.49) == 5 and sp.decode(0.5) == 15 and sp.decode(1.0) == 15
    assert sp.encode(5) == 0.25 and sp.encode(15) == 0.75
    assert not sp.contains(0) and not sp.contains(10) and not sp.contains(20) and not sp.contains(25)
    assert sp.contains(15.0)  # numerically on the grid


def test_quniform_every_grid_point_equally_likely() -> None:
    sp = SearchSpace("quniform", [0, 9, 1])
    rng = _rng(2)
    counts = Counter(sp.sample(rng) for _ in range(10000))
    assert sorted(counts) == list(range(10))
    assert stats.chisquare([counts[k] for k in range(10)]).pvalue > 1e-4


def test_quniform_float_grid_has_no_drift() -> None:
    sp = SearchSpace("quniform", [0.1, 1.0, 0.1])
    assert not sp.is_integer
    values = [sp.decode((k + 0.5) / 10) for k in range(10)]
    assert values == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert all(type(v) is float for v in values)
    assert sp.contains(0.1 + 0.2)  # 0.30000000000000004 is on the grid within tolerance
    assert sp.decode(sp.encode(0.1 + 0.2)) == 0.3


def test_quniform_float_lo_int_q_is_float() -> None:
    sp = SearchSpace("quniform", [5.0, 20, 10])
    assert not sp.is_integer
    assert {sp.decode(0.1), sp.decode(0.9)} == {5.0, 15.0}
    assert all(type(sp.decode(u)) is float for u in (0.1, 0.9))


def test_quniform_tolerance_counts_last_point() -> None:
    # hi - lo is 0.19999999999999998 in floats, still two steps of 0.1
    sp = SearchSpace("quniform", [0.1, 0.3, 0.1])
    assert sp.num_values == 3 and sp.upper == 0.3


# --------------------------------------------------------------------------- loguniform


def test_loguniform_sample_and_encoding() -> None:
    sp = SearchSpace("loguniform", [1e-4, 1.0])
    assert sp.is_log and sp.base == 2.0
    rng = _rng(3)
    values = np.array([sp.sample(rng) for _ in range(4000)])
    assert values.min() >= 1e-4 and values.max() <= 1.0
    # log10 of a log-uniform draw is uniform on [-4, 0]
    assert stats.kstest((np.log10(values) + 4) / 4, "uniform").pvalue > 1e-4
    assert sp.encode(1e-2) == pytest.approx(0.5)
    assert sp.decode(0.5) == pytest.approx(1e-2)
    assert sp.decode(0.0) == 1e-4 and sp.decode(1.0) == 1.0


def test_loguniform_base_does_not_change_distribution() -> None:
    a = SearchSpace("loguniform", [1e-3, 1.0])
    b = SearchSpace("loguniform", [1e-3, 1.0, 10])
    assert b.base == 10.0 and b.range == [1e-3, 1.0, 10]
    for u in (0.0, 0.1, 0.37, 0.5, 0.99, 1.0):
        assert a.decode(u) == pytest.approx(b.decode(u), rel=1e-12)
    assert a.sample(_rng(5)) == pytest.approx(b.sample(_rng(5)), rel=1e-12)
    assert "base independent" in SearchSpace.__doc__


# --------------------------------------------------------------------------- qloguniform


def test_qloguniform_frequencies_follow_log_cell_widths() -> None:
    sp = SearchSpace("qloguniform", [1, 10, 1])
    assert sp.is_integer and sp.upper == 10
    grid = list(range(1, 11))
    probs = _qlog_cell_probs([float(v) for v in grid])
    rng = _rng(4)
    n = 20000
    counts = Counter(sp.sample(rng) for _ in range(n))
    assert set(counts) == set(grid)
    observed = np.array([counts[v] for v in grid])
    assert stats.chisquare(observed, probs * n).pvalue > 1e-4
    # small values are far more likely than under quniform
    assert counts[1] > 5 * counts[10]


def test_qloguniform_encode_is_log_cell_centre_and_round_trips() -> None:
    sp = SearchSpace("qloguniform", [16, 512, 16], name="bs")
    grid = [16 * k for k in range(1, 33)]
    probs = _qlog_cell_probs([float(v) for v in grid])
    edges = np.concatenate([[0.0], np.cumsum(probs)])
    for i, v in enumerate(grid):
        u = sp.encode(v)
        assert u == pytest.approx((edges[i] + edges[i + 1]) / 2, abs=1e-12)
        assert sp.decode(u) == v and type(sp.decode(u)) is int
        assert sp.decode(edges[i] + 1e-9) == v
        if i + 1 < len(grid):
            assert sp.decode(edges[i + 1] - 1e-9) == v
    assert sp.decode(0.0) == 16 and sp.decode(1.0) == 512


def test_qloguniform_float_grid() -> None:
    sp = SearchSpace("qloguniform", [0.1, 1.0, 0.1, 10])
    assert sp.base == 10.0
    values = {sp.sample(_rng(s)) for s in range(300)}
    assert values <= {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0}
    assert 0.1 in values and 1.0 in values


# --------------------------------------------------------------------------- choice


def test_choice_strings_bools_none() -> None:
    sp = SearchSpace("choice", ["adam", "sgd", True, False, None])
    assert sp.is_choice and sp.lower == 0 and sp.upper == 4 and sp.num_values == 5
    rng = _rng(6)
    seen = Counter(repr(sp.sample(rng)) for _ in range(5000))
    assert set(seen) == {"'adam'", "'sgd'", "True", "False", "None"}  # every choice reachable
    assert stats.chisquare(list(seen.values())).pvalue > 1e-4
    for i, v in enumerate(["adam", "sgd", True, False, None]):
        assert sp.encode(v) == (i + 0.5) / 5
        assert sp.decode(sp.encode(v)) is v or sp.decode(sp.encode(v)) == v
    assert sp.decode(1.0) is None and sp.decode(0.0) == "adam"


def test_choice_distinguishes_1_true_and_1_0() -> None:
    sp = SearchSpace("choice", [1, True, 1.0])
    codes = [sp.encode(1), sp.encode(True), sp.encode(1.0)]
    assert codes == [0.5 / 3, 1.5 / 3, 2.5 / 3]
    decoded = [sp.decode(c) for c in codes]
    assert [type(v) for v in decoded] == [int, bool, float]
    only_int = SearchSpace("choice", [1, 2])
    assert not only_int.contains(True) and not only_int.contains(1.0)
    with pytest.raises(ValueError, match="True"):
        only_int.encode(True)


def test_choice_lists_and_dicts() -> None:
    sp = SearchSpace("choice", [[1, 2], (3, 4), {"a": 1}])
    assert sp.range == [[1, 2], [3, 4], {"a": 1}]
    assert sp.encode((1, 2)) == sp.encode([1, 2])
    got = sp.decode(0.0)
    got.append(99)  # a decoded value is a copy
    assert sp.decode(0.0) == [1, 2]


def test_choice_last_value_reachable_single_value_ok() -> None:
    sp = SearchSpace("choice", ["a", "b"])
    rng = _rng(7)
    assert {sp.sample(rng) for _ in range(100)} == {"a", "b"}
    assert SearchSpace("choice", ["only"]).sample(rng) == "only"


# --------------------------------------------------------------------------- validation errors


@pytest.mark.parametrize(
    ("kind", "rng", "exc", "needles"),
    [
        ("unifrom", [0, 1], TypeError, ["'unifrom'", "did you mean 'uniform'", "quniform", "choice"]),
        ("LogUniform", [1, 2], TypeError, ["did you mean 'loguniform'"]),
        (3, [0, 1], TypeError, ["type must be a str", "uniform"]),
        ("uniform", "0,1", TypeError, ["list or tuple", "'0,1'"]),
        ("uniform", {"lo": 0}, TypeError, ["list or tuple"]),
        ("uniform", [0], ValueError, ["uniform needs [lo, hi]"]),
        ("quniform", [1, 2], ValueError, ["quniform needs [lo, hi, q]"]),
        ("loguniform", [1], ValueError, ["[lo, hi] or [lo, hi, base]"]),
        ("qloguniform", [1, 10], ValueError, ["[lo, hi, q] or [lo, hi, q, base]"]),
        ("uniform", [0, 1, 2], ValueError, ["remove the extra", "3 values"]),
        ("qloguniform", [1, 10, 1, 2, 3], ValueError, ["remove the extra"]),
        ("uniform", ["1e-3", 1], TypeError, ["lo must be a number", "'1e-3'", "without quotes"]),
        ("uniform", [0, None], TypeError, ["hi must be a number", "None"]),
        ("uniform", [False, 1], TypeError, ["lo must be a number", "False", "bool"]),
        ("quniform", [0, 10, True], TypeError, ["q must be a number", "True"]),
        ("loguniform", [1, 10, "e"], TypeError, ["base must be a number", "'e'"]),
        ("uniform", [math.nan, 1], ValueError, ["lo must be a finite", "nan"]),
        ("uniform", [0, math.inf], ValueError, ["hi must be a finite", "inf"]),
        ("quniform", [0, 10, -math.inf], ValueError, ["q must be a finite"]),
        ("uniform", [1, 0], ValueError, ["lo=1", "hi=0", "swap"]),
        ("uniform", [1, 1], ValueError, ["lo=1", "less than", "hi=1"]),
        ("quniform", [5, 5, 1], ValueError, ["lo=5", "hi=5"]),
        ("quniform", [0, 10, 0], ValueError, ["q must be > 0", "q=0"]),
        ("quniform", [0, 10, -2], ValueError, ["q must be > 0", "q=-2"]),
        ("quniform", [5, 20, 20], ValueError, ["q=20", "fixed value 5", "smaller q"]),
        ("qloguniform", [1, 2, 1.5], ValueError, ["q=1.5", "smaller q"]),
        ("loguniform", [0, 1], ValueError, ["lo > 0", "0"]),
        ("loguniform", [-1, 1], ValueError, ["lo > 0", "-1"]),
        ("qloguniform", [0, 64, 8], ValueError, ["lo > 0"]),
        ("loguniform", [1, 10, 1], ValueError, ["base must be > 0 and != 1", "base=1"]),
        ("loguniform", [1, 10, -2], ValueError, ["base=-2"]),
        ("qloguniform", [1, 10, 1, 0], ValueError, ["base=0"]),
        ("choice", [], ValueError, ["at least one value"]),
        ("choice", [object()], TypeError, ["JSON", "position 0", "object"]),
        ("choice", [[1, {2, 3}]], TypeError, ["JSON", "set"]),
        ("choice", [{1: "a"}], TypeError, ["JSON", "not a str"]),
        ("choice", [math.nan], ValueError, ["nan", "finite"]),
        ("choice", ["a", "b", "a"], ValueError, ["duplicate", "'a'", "positions 0 and 2"]),
        ("choice", [1.0, 1.0], ValueError, ["duplicate", "1.0"]),
    ],
)
def test_validation_errors(kind: object, rng: object, exc: type[Exception], needles: list[str]) -> None:
    with pytest.raises(exc) as info:
        SearchSpace(kind, rng)  # type: ignore[arg-type]
    msg = str(info.value)
    assert msg.startswith("search_space(")  # without a name, the message shows the call
    for needle in needles:
        assert needle in msg, (needle, msg)
    with pytest.raises(exc) as named_info:
        SearchSpace(kind, rng, name="my_hp")  # type: ignore[arg-type]
    assert str(named_info.value).startswith("search space 'my_hp': ")


def test_call_shown_in_message() -> None:
    with pytest.raises(ValueError, match=r"^search_space\('uniform', \[1, 0\]\): "):
        SearchSpace("uniform", [1, 0])


def test_bad_name() -> None:
    with pytest.raises(TypeError):
        SearchSpace("uniform", [0, 1], name=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SearchSpace("uniform", [0, 1], name="")


def test_choice_1_true_1_0_are_not_duplicates() -> None:
    assert SearchSpace("choice", [1, True, 1.0, "1", None]).num_values == 5


@pytest.mark.parametrize(
    ("sp", "bad"),
    [
        (SearchSpace("uniform", [0, 1], name="lr"), 1.5),
        (SearchSpace("uniform", [0, 1], name="lr"), "0.5"),
        (SearchSpace("loguniform", [1e-3, 1], name="lr"), 1e-4),
        (SearchSpace("quniform", [5, 20, 10], name="bs"), 10),
        (SearchSpace("quniform", [5, 20, 10], name="bs"), 25),
        (SearchSpace("qloguniform", [16, 512, 16], name="bs"), 17),
        (SearchSpace("choice", ["adam", "sgd"], name="opt"), "rmsprop"),
        (SearchSpace("choice", [1, 2], name="opt"), None),
    ],
)
def test_encode_outside_space_names_value(sp: SearchSpace, bad: object) -> None:
    assert not sp.contains(bad)
    with pytest.raises(ValueError) as info:
        sp.encode(bad)
    assert f"search space {sp.name!r}" in str(info.value)
    assert repr(bad) in str(info.value)


@pytest.mark.parametrize("kind_range", [("uniform", [0, 1]), ("quniform", [0, 4, 1]), ("choice", [1, 2])])
def test_decode_nan_raises(kind_range: tuple[str, list]) -> None:
    sp = SearchSpace(*kind_range, name="x")
    with pytest.raises(ValueError, match="nan"):
        sp.decode(math.nan)
    with pytest.raises(TypeError):
        sp.decode("half")  # type: ignore[arg-type]


def test_sample_needs_generator() -> None:
    with pytest.raises(TypeError, match="default_rng"):
        SearchSpace("uniform", [0, 1]).sample(42)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- with_upper


def test_with_upper_quniform_batch_size() -> None:
    sp = SearchSpace("quniform", [8, 64, 8], name="batch_size")
    smaller = sp.with_upper(31)
    assert smaller.name == "batch_size" and smaller.type == "quniform"
    assert smaller.q == 8 and smaller.lower == 8 and smaller.upper == 24 and smaller.is_integer
    assert sp.upper == 64  # original unchanged
    assert smaller.with_upper(16).upper == 16
    with pytest.raises(ValueError, match="cannot shrink further"):
        smaller.with_upper(15)  # would leave only 8
    with pytest.raises(ValueError, match="cannot shrink further") as info:
        sp.with_upper(4)
    assert "batch_size" in str(info.value) and "4" in str(info.value)


def test_with_upper_other_types() -> None:
    u = SearchSpace("uniform", [0.0, 1.0]).with_upper(0.5)
    assert u.upper == 0.5 and u.lower == 0.0
    ql = SearchSpace("qloguniform", [16, 512, 16, 2]).with_upper(100)
    assert ql.upper == 96 and ql.base == 2.0 and ql.range == [16, 100, 16, 2]
    with pytest.raises(ValueError, match="cannot shrink further"):
        SearchSpace("uniform", [0.0, 1.0]).with_upper(0.0)
    with pytest.raises(ValueError, match="cannot shrink further"):
        SearchSpace("uniform", [0.0, 1.0]).with_upper(-1)
    with pytest.raises(ValueError, match="only lower"):
        SearchSpace("uniform", [0.0, 1.0]).with_upper(2.0)
    for sp in (SearchSpace("choice", [1, 2, 3]), SearchSpace("loguniform", [1e-3, 1])):
        with pytest.raises(ValueError, match="with_upper works only"):
            sp.with_upper(0.5)


# --------------------------------------------------------------------------- to_dict / from_dict / equality


@pytest.mark.parametrize(
    ("kind", "rng"),
    [
        ("uniform", [0, 1.5]),
        ("quniform", [5, 20, 10]),
        ("quniform", [0.1, 1.0, 0.1]),
        ("loguniform", [1e-4, 1e-1]),
        ("loguniform", [1e-4, 1e-1, 10]),
        ("qloguniform", [16, 512, 16]),
        ("qloguniform", [16, 512, 16, 2]),
        ("choice", ["a", 1, 1.0, True, None, [1, 2], {"k": "v"}]),
    ],
)
def test_to_dict_from_dict_round_trip(kind: str, rng: list) -> None:
    sp = SearchSpace(kind, rng)
    d = json.loads(json.dumps(sp.to_dict()))
    back = SearchSpace.from_dict(d, name="hp")
    assert back == sp and back.name == "hp"
    assert back.to_dict() == sp.to_dict()
    assert back.range == sp.range
    for u in (0.0, 0.3, 0.77, 1.0):
        assert back.decode(u) == sp.decode(u)


def test_to_dict_formats() -> None:
    assert SearchSpace("quniform", [5, 20, 10]).to_dict() == {"type": "quniform", "range": [5, 20, 10]}
    assert SearchSpace("loguniform", [1e-3, 1]).to_dict() == {"type": "loguniform", "range": [1e-3, 1]}
    assert SearchSpace("choice", ["a", "b", "c"]).to_dict() == {
        "type": "choice",
        "range": [0, 3],
        "choice_list": ["a", "b", "c"],
    }


def test_from_dict_original_choice_format_and_plain_range() -> None:
    orig = SearchSpace.from_dict({"type": "choice", "range": [0, 2], "choice_list": ["sgd", "adam"]})
    plain = SearchSpace.from_dict({"type": "choice", "range": ["sgd", "adam"]})
    assert orig == plain and orig.choices == ["sgd", "adam"]


def test_from_dict_errors() -> None:
    with pytest.raises(TypeError, match="'lr'"):
        SearchSpace.from_dict(["uniform", [0, 1]], name="lr")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="missing key.*range"):
        SearchSpace.from_dict({"type": "uniform"}, name="lr")
    with pytest.raises(ValueError, match="unknown key.*rnage"):
        SearchSpace.from_dict({"type": "uniform", "range": [0, 1], "rnage": 1}, name="lr")
    with pytest.raises(ValueError, match="choice_list"):
        SearchSpace.from_dict({"type": "uniform", "range": [0, 1], "choice_list": [1]}, name="lr")
    with pytest.raises(ValueError, match="^search space 'lr': "):
        SearchSpace.from_dict({"type": "uniform", "range": [1, 0]}, name="lr")


def test_equality_and_hash() -> None:
    assert SearchSpace("uniform", [0, 1]) == SearchSpace("uniform", [0.0, 1.0])
    assert SearchSpace("uniform", [0, 1], name="a") == SearchSpace("uniform", [0, 1], name="b")
    assert SearchSpace("quniform", [5, 20, 10]) != SearchSpace("quniform", [5.0, 20, 10])
    assert SearchSpace("choice", [1, 2]) != SearchSpace("choice", [True, 2])
    assert SearchSpace("choice", [1, 2]) != SearchSpace("choice", [1.0, 2])
    assert SearchSpace("uniform", [0, 1]) != SearchSpace("loguniform", [0.1, 1])
    assert len({SearchSpace("uniform", [0, 1]), SearchSpace("uniform", [0.0, 1.0])}) == 1
    assert SearchSpace("uniform", [0, 1]) != "uniform"


def test_immutable() -> None:
    sp = SearchSpace("uniform", [0, 1])
    with pytest.raises(AttributeError):
        sp.type = "choice"  # type: ignore[misc]


# --------------------------------------------------------------------------- dict-level helpers


def _space() -> dict[str, SearchSpace]:
    return {
        "lr": SearchSpace("loguniform", [1e-4, 1e-1]),
        "bs": SearchSpace("quniform", [8, 64, 8]),
        "opt": SearchSpace("choice", ["adam", "sgd"]),
    }


def test_normalize_space_names_and_keeps_order() -> None:
    user = _space()
    user["wd"] = {"type": "uniform", "range": [0, 0.1]}  # type: ignore[assignment]
    norm = normalize_space(user)
    assert list(norm) == ["lr", "bs", "opt", "wd"]
    assert all(sp.name == key for key, sp in norm.items())
    assert norm is not user and user["lr"].name is None  # the user's objects are not changed
    assert norm["wd"] == SearchSpace("uniform", [0, 0.1])


def test_normalize_space_rejects_bad_input() -> None:
    with pytest.raises(TypeError):
        normalize_space([("lr", SearchSpace("uniform", [0, 1]))])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="empty"):
        normalize_space({})
    with pytest.raises(TypeError, match="str"):
        normalize_space({1: SearchSpace("uniform", [0, 1])})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        normalize_space({"": SearchSpace("uniform", [0, 1])})
    with pytest.raises(TypeError, match="'lr'"):
        normalize_space({"lr": ("uniform", [0, 1])})
    with pytest.raises(ValueError, match="^search space 'lr': "):
        normalize_space({"lr": {"type": "uniform", "range": [1, 0]}})
    with pytest.raises(TypeError, match="did you mean 'loguniform'"):
        normalize_space({"lr": {"type": "logunifrom", "range": [1e-3, 1]}})


def test_sample_encode_decode_params() -> None:
    space = normalize_space(_space())
    params = sample_params(space, _rng(8))
    assert list(params) == ["lr", "bs", "opt"]
    u = encode_params(space, params)
    assert u.shape == (3,) and u.dtype == np.float64 and np.all((u >= 0) & (u <= 1))
    back = decode_params(space, u)
    assert back["bs"] == params["bs"] and back["opt"] == params["opt"]
    assert back["lr"] == pytest.approx(params["lr"], rel=1e-9)
    assert decode_params(space, [0.0, 1.0, 1.0]) == {"lr": 1e-4, "bs": 64, "opt": "sgd"}
    assert decode_params(space, np.array([-3.0, 9.0, 0.2])) == {"lr": 1e-4, "bs": 64, "opt": "adam"}


def test_params_key_mismatch_and_bad_values() -> None:
    space = normalize_space(_space())
    with pytest.raises(ValueError, match=r"missing \['opt'\].*unknown \['momentum'\]"):
        encode_params(space, {"lr": 0.01, "bs": 8, "momentum": 0.9})
    with pytest.raises(ValueError, match="'bs'.*12"):
        encode_params(space, {"lr": 0.01, "bs": 12, "opt": "adam"})
    with pytest.raises(ValueError, match="'bs'.*12"):  # unnamed spaces: the key is named instead
        encode_params(_space(), {"lr": 0.01, "bs": 12, "opt": "adam"})
    with pytest.raises(ValueError, match="shape"):
        decode_params(space, [0.5, 0.5])
    with pytest.raises(ValueError, match="'opt'.*nan"):
        decode_params(space, [0.5, 0.5, math.nan])


def test_sample_params_reproducible() -> None:
    space = normalize_space(_space())
    assert sample_params(space, _rng(9)) == sample_params(space, _rng(9))


def test_space_json_round_trip() -> None:
    space = normalize_space(_space())
    stored = json.loads(json.dumps(space_to_json(space)))
    assert stored["opt"] == {"type": "choice", "range": [0, 2], "choice_list": ["adam", "sgd"]}
    back = space_from_json(stored)
    assert back == space and [sp.name for sp in back.values()] == ["lr", "bs", "opt"]


# --------------------------------------------------------------------------- property tests

_SETTINGS = settings(max_examples=120, deadline=None)


@st.composite
def uniform_spaces(draw: st.DrawFn) -> SearchSpace:
    lo = draw(st.floats(-1e6, 1e6) | st.integers(-1000, 1000))
    width = draw(st.floats(1e-3, 1e3)) * max(1.0, abs(lo))
    return SearchSpace("uniform", [lo, lo + width])


@st.composite
def loguniform_spaces(draw: st.DrawFn) -> SearchSpace:
    a = draw(st.floats(-8, 3))
    b = a + draw(st.floats(0.01, 8))
    extra = draw(st.sampled_from([[], [2], [10], [math.e]]))
    return SearchSpace("loguniform", [10.0**a, 10.0**b, *extra])


@st.composite
def quantized_spaces(draw: st.DrawFn) -> SearchSpace:
    kind = draw(st.sampled_from(["quniform", "qloguniform"]))
    k = draw(st.integers(1, 300))
    if draw(st.booleans()):
        lo = draw(st.integers(1 if kind == "qloguniform" else -1000, 1000))
        q = draw(st.integers(1, 64))
        hi = lo + k * q + draw(st.integers(0, q - 1))
    else:
        low = 1e-3 if kind == "qloguniform" else -100.0
        lo = round(draw(st.floats(low, 100.0)), 3)
        assume(lo > 0 or kind == "quniform")
        q = draw(st.sampled_from([0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]) | st.floats(1e-3, 10.0))
        hi = lo + k * q + draw(st.floats(0.0, 0.99)) * q
    space = SearchSpace(kind, [lo, hi, q])
    assert space.num_values == k + 1
    return space


def _choice_key(v: object) -> tuple:
    return (type(v).__name__, tuple(v) if isinstance(v, list) else v)


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(-5, 5, allow_nan=False, allow_infinity=False)
    | st.text(max_size=3)
    | st.lists(st.integers(0, 3), max_size=2)
)
choice_spaces = st.lists(_json_scalars, min_size=1, max_size=8, unique_by=_choice_key).map(
    lambda values: SearchSpace("choice", values)
)
any_space = uniform_spaces() | loguniform_spaces() | quantized_spaces() | choice_spaces
unit = st.floats(0.0, 1.0)


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


@_SETTINGS
@given(any_space, st.integers(0, 2**32 - 1))
def test_prop_samples_are_contained(sp: SearchSpace, seed: int) -> None:
    rng = _rng(seed)
    for _ in range(5):
        v = sp.sample(rng)
        assert sp.contains(v), (sp, v)
        if sp.is_integer:
            assert type(v) is int
        elif not sp.is_choice:
            assert type(v) is float
            assert sp.lower <= v <= sp.upper


@_SETTINGS
@given(any_space, unit | st.floats(-10, 10) | st.sampled_from([math.inf, -math.inf]))
def test_prop_decode_is_contained(sp: SearchSpace, u: float) -> None:
    v = sp.decode(u)
    assert sp.contains(v), (sp, u, v)
    assert 0.0 <= sp.encode(v) <= 1.0


@_SETTINGS
@given(any_space, st.integers(0, 2**32 - 1))
def test_prop_decode_encode_round_trip(sp: SearchSpace, seed: int) -> None:
    v = sp.sample(_rng(seed))
    back = sp.decode(sp.encode(v))
    if sp.is_quantized or sp.is_choice:
        assert _same(back, v), (sp, v, back)
    else:
        assert type(back) is float
        assert back == pytest.approx(v, rel=1e-9, abs=1e-9 * (sp.upper - sp.lower))


@_SETTINGS
@given(any_space, unit)
def test_prop_encode_decode_same_cell(sp: SearchSpace, u: float) -> None:
    v = sp.decode(u)
    u2 = sp.encode(v)
    if sp.is_quantized or sp.is_choice:
        assert _same(sp.decode(u2), v), (sp, u, v, u2)
    else:
        assert u2 == pytest.approx(u, abs=1e-6)
    if sp.is_choice or sp.type == "quniform":
        n = sp.num_values
        assert min(math.floor(u2 * n), n - 1) == min(math.floor(u * n), n - 1)


@_SETTINGS
@given(any_space)
def test_prop_json_round_trip(sp: SearchSpace) -> None:
    back = SearchSpace.from_dict(json.loads(json.dumps(sp.to_dict())))
    assert back == sp
    for u in (0.0, 0.5, 1.0):
        assert _same(back.decode(u), sp.decode(u))


@settings(max_examples=60, deadline=None)
@given(quantized_spaces())
def test_prop_quantized_grid_points(sp: SearchSpace) -> None:
    n = sp.num_values
    assert n is not None
    ks = sorted({0, 1, n // 2, n - 1})
    points = [sp.decode((k + 0.5) / n) if sp.type == "quniform" else None for k in ks]
    for k, p in zip(ks, points, strict=True):
        if p is not None:
            expected = sp.lower + k * sp.q
            assert p == pytest.approx(expected, rel=1e-12, abs=1e-9 * sp.q)
    assert sp.lower == sp.decode(0.0) and sp.upper == sp.decode(1.0)
    assert sp.contains(sp.upper) and not sp.contains(sp.upper + sp.q) and not sp.contains(sp.lower - sp.q)
    if n > 1:
        assert not sp.contains(sp.lower + sp.q / 2)


@_SETTINGS
@given(any_space, st.lists(unit, min_size=1, max_size=20))
def test_prop_cell_edges_give_encode_of_decode(sp: SearchSpace, us: list[float]) -> None:
    edges = sp.cell_edges()
    if sp.num_values is None:
        assert edges is None
        return
    assert len(edges) == sp.num_values + 1 and edges[0] == 0.0 and edges[-1] == pytest.approx(1.0)
    assert np.all(np.diff(edges) > 0)
    u = np.array(us)
    cell = np.clip(np.searchsorted(edges, u, side="right") - 1, 0, sp.num_values - 1)
    centres = 0.5 * (edges[cell] + edges[cell + 1])
    for x, c in zip(us, centres, strict=True):
        assert c == pytest.approx(sp.encode(sp.decode(x)), abs=1e-9), (sp, x)
