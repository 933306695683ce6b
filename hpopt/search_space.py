"""Hyperparameter types, sampling, validation and the encoding to and from the unit box [0, 1]^d.

Every optimizer (random search, GP Bayesian optimization, ASHA) works in the unit box, so each
hyperparameter maps a value to a coordinate ``u`` in [0, 1] (``encode``) and any real ``u`` back to a
valid value (``decode``). The maps are built so that drawing ``u`` uniformly from [0, 1] and decoding it
gives the same distribution as ``sample``: an optimizer that explores the box evenly explores the prior.

Quantized types and ``choice`` split [0, 1] into one cell per value; ``encode`` returns the centre of the
value's cell and ``decode`` returns the value whose cell contains ``u``, so ``decode(encode(v)) == v``
holds exactly and a GP proposal anywhere in a cell maps to that cell's value.

``SearchSpace`` keeps the original hpopt call form ``hpopt.search_space(type, range)`` and its JSON
form ``{"type": ..., "range": [...]}`` (plus ``"choice_list"`` for choices), but fixes the original's
defects: quantized values are never rounded half-to-even off the grid, every choice is reachable, and a
quantized log-uniform space really has log-uniform weights.
"""

from __future__ import annotations

import copy
import decimal
import difflib
import math
import numbers
import reprlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "SPACE_TYPES",
    "SearchSpace",
    "search_space",
    "normalize_space",
    "sample_params",
    "encode_params",
    "decode_params",
    "space_to_json",
    "space_from_json",
]

SPACE_TYPES = ("uniform", "quniform", "loguniform", "qloguniform", "choice")

# Written form of each type's range, used in error messages so the fix is visible.
_FORMS = {
    "uniform": "[lo, hi]",
    "quniform": "[lo, hi, q]",
    "loguniform": "[lo, hi] or [lo, hi, base]",
    "qloguniform": "[lo, hi, q] or [lo, hi, q, base]",
    "choice": "[value1, value2, ...]",
}
# (minimum, maximum) number of range entries per numeric type.
_LENGTHS = {"uniform": (2, 2), "quniform": (3, 3), "loguniform": (2, 3), "qloguniform": (3, 4)}
_DEFAULT_BASE = 2.0
_REL_TOL = 1e-9
# Grid arithmetic runs in decimal so that 0.1 + 2 * 0.1 gives 0.3 and not 0.30000000000000004.
_DEC = decimal.Context(prec=50)
_DEC_TOL = decimal.Decimal("1e-9")

_short = reprlib.Repr()
_short.maxlist = 12
_short.maxdict = 8
_short.maxstring = 60
_short.maxother = 60


def _show(value: Any) -> str:
    """Short repr for error messages, so a long choice list does not flood the message."""
    return _short.repr(value)


def _bad_number(value: Any) -> bool:
    return isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)


def _as_python_number(value: Any) -> int | float:
    """Plain ``int`` or ``float`` (numpy scalars included) so ranges and values stay JSON-friendly."""
    if isinstance(value, numbers.Integral):
        return int(value)
    return float(value)


def _to_decimal(value: int | float) -> decimal.Decimal:
    # repr() of a float is the shortest string that round-trips: the number the user wrote.
    return decimal.Decimal(value) if isinstance(value, int) else decimal.Decimal(repr(value))


def _json_value(value: Any) -> Any:
    """Validate a choice value and return its plain-JSON form (numpy scalars unwrapped, tuples as lists).

    Raises TypeError for values JSON cannot hold and ValueError for NaN/inf, which JSON cannot hold either
    but whose fix (use a finite number) differs.
    """
    if value is None or isinstance(value, (bool, np.bool_)):
        return None if value is None else bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        out = float(value)
        if not math.isfinite(out):
            raise ValueError(f"{value!r} is not finite, which JSON cannot store")
        return out
    if isinstance(value, (list, tuple)):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        out_dict = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise TypeError(f"dict key {key!r} ({type(key).__name__}) is not a str, which JSON requires")
            out_dict[str(key)] = _json_value(v)
        return out_dict
    raise TypeError(f"type {type(value).__name__} is not JSON-serializable")


def _strict_key(value: Any) -> Any:
    """Hashable key that tells True from 1 and 1 from 1.0 (plain ``==`` does not)."""
    if isinstance(value, list):
        return ("list", tuple(_strict_key(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, _strict_key(v)) for k, v in value.items())))
    return (type(value).__name__, value)


def _check_rng(rng: Any) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng must be a numpy.random.Generator, got {_show(rng)} ({type(rng).__name__}); "
            "pass np.random.default_rng(seed)"
        )


class SearchSpace:
    """One hyperparameter: its type, range and the maps between values and the unit interval.

    Types and their ``range``:

    - ``uniform [lo, hi]``: float in [lo, hi].
    - ``quniform [lo, hi, q]``: the grid lo + k*q (k = 0..K) inside [lo, hi], each point equally likely.
      If lo and q are both ``int``, values are ``int`` (batch sizes); otherwise floats.
    - ``loguniform [lo, hi(, base)]``: float in [lo, hi] with uniform density of log(x); lo > 0.
    - ``qloguniform [lo, hi, q(, base)]``: the grid of ``quniform`` with log-uniform weights; lo > 0. A draw
      is log-uniform on [lo, last grid point] snapped to the nearest grid point, so each point's weight is
      the log-width of its cell (cells split at midpoints; the first and last cells are half cells).
    - ``choice [v1, v2, ...]``: one of the JSON values, each equally likely.

    ``base`` is accepted only for compatibility with the original hpopt: it does NOT change the
    distribution, because log-uniform is base independent (log_b x = ln x / ln b, and the constant factor
    cancels when the interval is mapped to [0, 1]). Without it, ``base`` reports 2 but ``range`` stays
    as given.

    Instances are immutable; ``named`` and ``with_upper`` return new ones.
    """

    def __init__(self, type: str, range: Sequence[Any], name: str | None = None) -> None:
        self._name = self._check_name(name)
        self._raw = (type, range)
        self._type = self._check_type(type)
        if not isinstance(range, (list, tuple)):
            raise TypeError(
                f"{self._where()}: range must be a list or tuple such as {_FORMS[self._type]}, "
                f"got {_show(range)} ({_builtin_type(range).__name__})"
            )
        self._q: int | float | None = None
        self._base: int | float | None = None
        self._choices: list[Any] | None = None
        if self._type == "choice":
            self._init_choice(range)
        else:
            self._init_numeric(range)
        self._raw = (self._type, self._range)  # later messages must not show a caller's list changed since

    # ------------------------------------------------------------------ construction and validation

    def _where(self) -> str:
        """Error-message prefix: the hyperparameter's name if known, else the call that built it."""
        if self._name is not None:
            return f"search space {self._name!r}"
        kind, rng = self._raw
        return f"search_space({_show(kind)}, {_show(rng)})"

    @staticmethod
    def _check_name(name: Any) -> str | None:
        if name is None:
            return None
        if not isinstance(name, str):
            raise TypeError(
                f"search space name must be a str, got {_show(name)} ({_builtin_type(name).__name__})"
            )
        if not name:
            raise ValueError("search space name must not be empty")
        return name

    def _check_type(self, kind: Any) -> str:
        valid = ", ".join(repr(t) for t in SPACE_TYPES)
        if not isinstance(kind, str):
            raise TypeError(
                f"{self._where()}: type must be a str, one of {valid}; got {_show(kind)} "
                f"({_builtin_type(kind).__name__})"
            )
        if kind not in SPACE_TYPES:
            close = difflib.get_close_matches(kind.lower(), SPACE_TYPES, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise TypeError(f"{self._where()}: unknown type {kind!r}; {hint}valid types are {valid}")
        return kind

    def _number(self, value: Any, what: str) -> int | float:
        if _bad_number(value):
            hint = ""
            if isinstance(value, str):
                hint = "; write it as a number without quotes"
            elif isinstance(value, (bool, np.bool_)):
                hint = "; booleans are not numbers here (use a 'choice' for True/False)"
            raise TypeError(
                f"{self._where()}: {what} must be a number, got {_show(value)} "
                f"({_builtin_type(value).__name__}){hint}"
            )
        number = _as_python_number(value)
        if not math.isfinite(number):
            raise ValueError(
                f"{self._where()}: {what} must be a finite number, got {number!r}; give a finite bound"
            )
        return number

    def _init_numeric(self, rng: Sequence[Any]) -> None:
        kind = self._type
        least, most = _LENGTHS[kind]
        if len(rng) < least:
            raise ValueError(
                f"{self._where()}: {kind} needs {_FORMS[kind]}, got {_show(list(rng))} ({len(rng)} values)"
            )
        if len(rng) > most:
            raise ValueError(
                f"{self._where()}: {kind} takes {_FORMS[kind]}, got {len(rng)} values {_show(list(rng))}; "
                "remove the extra values"
            )
        names = ["lo", "hi", "q", "base"] if kind in ("quniform", "qloguniform") else ["lo", "hi", "base"]
        values = [self._number(v, what) for v, what in zip(rng, names, strict=False)]
        self._range: list[Any] = values
        lo, hi = values[0], values[1]
        if lo >= hi:
            fix = f"; swap them ({_show([hi, lo] + values[2:])})" if lo > hi else "; widen the range"
            raise ValueError(
                f"{self._where()}: lower bound lo={lo!r} must be less than upper bound hi={hi!r}{fix}"
            )
        if kind in ("loguniform", "qloguniform") and lo <= 0:
            raise ValueError(
                f"{self._where()}: {kind} needs lo > 0 (log of {lo!r} is undefined); "
                f"use a small positive lo such as 1e-06, or type 'uniform'"
            )
        self._lo, self._hi = lo, hi
        if kind in ("loguniform", "qloguniform"):
            base = values[names.index("base")] if len(values) > names.index("base") else None
            if base is not None and (base <= 0 or base == 1):
                raise ValueError(
                    f"{self._where()}: base must be > 0 and != 1, got base={base!r}; "
                    "omit it (the base does not change a log-uniform distribution)"
                )
            self._base = base
            self._log_lo = math.log(lo)
        if kind in ("quniform", "qloguniform"):
            self._init_grid(values[2])
            if kind == "qloguniform":
                self._log_hi = math.log(float(self._grid(self._k_max)))
        elif kind == "loguniform":
            self._log_hi = math.log(hi)

    def _init_grid(self, q: int | float) -> None:
        lo, hi = self._lo, self._hi
        if q <= 0:
            raise ValueError(
                f"{self._where()}: q must be > 0, got q={q!r}; q is the step between values, "
                "e.g. 1 for integers"
            )
        self._q = q
        self._integer = isinstance(lo, int) and isinstance(q, int)
        self._dlo, self._dq = _to_decimal(lo), _to_decimal(q)
        ratio = _DEC.divide(_DEC.subtract(_to_decimal(hi), self._dlo), self._dq)
        self._k_max = int(_DEC.add(ratio, _DEC_TOL).to_integral_value(rounding=decimal.ROUND_FLOOR))
        if self._k_max < 1:
            raise ValueError(
                f"{self._where()}: q={q!r} is larger than hi - lo = {_show(hi - lo)}, so the only value is "
                f"lo={lo!r}; use the fixed value {lo!r} instead of a search space, or a smaller q "
                f"(at most {_show(hi - lo)})"
            )

    def _init_choice(self, rng: Sequence[Any]) -> None:
        if len(rng) == 0:
            raise ValueError(
                f"{self._where()}: choice needs at least one value, e.g. ['adam', 'sgd']; got []"
            )
        values: list[Any] = []
        index: dict[Any, int] = {}
        for i, raw in enumerate(rng):
            try:
                value = _json_value(raw)
            except TypeError as err:
                raise TypeError(
                    f"{self._where()}: choice value {_show(raw)} at position {i} cannot be stored in JSON "
                    f"({err}); use str, int, float, bool, None, or lists/dicts of them"
                ) from None
            except ValueError as err:
                raise ValueError(
                    f"{self._where()}: choice value {_show(raw)} at position {i} is invalid ({err}); "
                    "use a finite number"
                ) from None
            key = _strict_key(value)
            if key in index:
                raise ValueError(
                    f"{self._where()}: duplicate choice value {_show(value)} at positions "
                    f"{index[key]} and {i}; "
                    "list each value once"
                )
            index[key] = i
            values.append(value)
        self._choices = values
        self._index = index
        self._range = values
        self._lo, self._hi = 0, len(values) - 1

    # ------------------------------------------------------------------ public attributes

    @property
    def type(self) -> str:
        """One of ``SPACE_TYPES``: uniform, quniform, loguniform, qloguniform, choice."""
        return self._type

    @property
    def range(self) -> list[Any]:
        """A copy of the normalized range; changing it cannot change the space."""
        return copy.deepcopy(self._range)

    @property
    def name(self) -> str | None:
        """The hyperparameter's name once the space is part of a search space (None before)."""
        return self._name

    @property
    def lower(self) -> int | float:
        """Smallest value (choice: index 0)."""
        if self.is_quantized:
            return self._grid(0)
        return self._lo if self.is_choice else float(self._lo)

    @property
    def upper(self) -> int | float:
        """Largest value: the last grid point for quantized types (choice: index n - 1)."""
        if self.is_quantized:
            return self._grid(self._k_max)
        return self._hi if self.is_choice else float(self._hi)

    @property
    def q(self) -> int | float | None:
        """The grid step of the quantized types (None for the others)."""
        return self._q

    @property
    def base(self) -> float | None:
        """The log base given (2 if none was); informational only, it does not change the distribution."""
        if not self.is_log:
            return None
        return float(self._base) if self._base is not None else _DEFAULT_BASE

    @property
    def choices(self) -> list[Any] | None:
        """A copy of a choice's values (None for the numeric types)."""
        return copy.deepcopy(self._choices)

    @property
    def is_log(self) -> bool:
        return self._type in ("loguniform", "qloguniform")

    @property
    def is_quantized(self) -> bool:
        return self._type in ("quniform", "qloguniform")

    @property
    def is_choice(self) -> bool:
        return self._type == "choice"

    @property
    def is_integer(self) -> bool:
        """True when values are python ints: quantized with int lo and int q."""
        return self.is_quantized and self._integer

    @property
    def num_values(self) -> int | None:
        """Number of distinct values (grid points or choices); None for continuous types."""
        if self.is_choice:
            return len(self._range)
        return self._k_max + 1 if self.is_quantized else None

    # ------------------------------------------------------------------ copies

    def named(self, name: str) -> SearchSpace:
        """Copy with ``name`` set, so later error messages say which hyperparameter is wrong."""
        return SearchSpace(self._type, self._range, name=name)

    def with_upper(self, new_upper: float) -> SearchSpace:
        """Copy with the upper bound lowered to ``new_upper`` (e.g. after CUDA OOM on a batch size).

        Only for ``uniform`` and the quantized types; raises ValueError when the bound cannot shrink that
        far (below ``lower``, or leaving a single grid point) so the caller can stop retrying.
        """
        if self._type not in ("uniform", "quniform", "qloguniform"):
            raise ValueError(
                f"{self._where()}: with_upper works only for 'uniform', 'quniform' and 'qloguniform', "
                f"not {self._type!r}"
            )
        bound = self._number(new_upper, "new_upper")
        if bound > self._hi:
            raise ValueError(
                f"{self._where()}: with_upper can only lower the bound; new_upper={bound!r} is above "
                f"hi={self._hi!r}"
            )
        if bound < self.lower:
            raise ValueError(
                f"{self._where()}: upper bound cannot shrink further: new_upper={bound!r} is below the "
                f"lower bound {self.lower!r}"
            )
        rng = list(self._range)
        rng[1] = bound
        try:
            return SearchSpace(self._type, rng, name=self._name)
        except ValueError:
            raise ValueError(
                f"{self._where()}: upper bound cannot shrink further: new_upper={bound!r} would leave only "
                f"the single value {self.lower!r} in {_show(rng)}"
            ) from None

    # ------------------------------------------------------------------ grid helpers

    def _grid(self, k: int) -> int | float:
        """Grid point k, computed in decimal so float grids carry no 0.30000000000000004 drift."""
        if self._integer:
            return self._lo + k * self._q
        value = float(_DEC.add(self._dlo, _DEC.multiply(decimal.Decimal(k), self._dq)))
        return min(value, float(self._hi))  # the 1e-9 tolerance in K may put the last point a hair above hi

    def _grid_index(self, value: Any) -> int | None:
        """Index of the grid point equal to ``value`` (within tolerance), or None if off the grid."""
        if _bad_number(value):
            return None
        x = _as_python_number(value)
        if self._integer and isinstance(x, int):
            k, rest = divmod(x - self._lo, self._q)
            return k if rest == 0 and 0 <= k <= self._k_max else None
        if not math.isfinite(x):
            return None
        k = math.floor((x - self._lo) / self._q + 0.5)
        k = min(max(k, 0), self._k_max)
        point = self._grid(k)
        tol = _REL_TOL * self._q + 4 * math.ulp(max(abs(x), abs(point)))
        return k if abs(x - point) <= tol else None

    def _log_edge(self, k: int) -> float:
        """Left edge, in log space, of qloguniform cell k (cells split at midpoints between grid points).

        Cell 0 starts at log(lo) and cell K ends at log(last grid point); inside, the boundary between
        points g[k-1] and g[k] is log((g[k-1] + g[k]) / 2). Snapping a log-uniform draw on [lo, g[K]] to the
        nearest grid point therefore gives each point a probability proportional to its cell's log-width.
        """
        if k <= 0:
            return self._log_lo
        if k > self._k_max:
            return self._log_hi
        return math.log((float(self._grid(k - 1)) + float(self._grid(k))) / 2.0)

    def _log_cell(self, t: float) -> int:
        """qloguniform cell containing log-space point ``t``: nearest grid point, then fixed up at edges."""
        guess = (math.exp(t) - self._lo) / self._q
        k = min(max(math.floor(guess + 0.5), 0), self._k_max)
        while k < self._k_max and t >= self._log_edge(k + 1):
            k += 1
        while k > 0 and t < self._log_edge(k):
            k -= 1
        return k

    # ------------------------------------------------------------------ sampling and encoding

    def sample(self, rng: np.random.Generator) -> Any:
        """One value from the prior: python int/float, or the choice value itself."""
        _check_rng(rng)
        if self.is_choice:
            return copy.deepcopy(self._range[int(rng.integers(len(self._range)))])
        if self._type == "quniform" and self._k_max < 2**62:
            return self._grid(int(rng.integers(self._k_max + 1)))
        # For the other types decoding a uniform u is exactly the prior (see the module docstring).
        return self.decode(float(rng.random()))

    def contains(self, value: Any) -> bool:
        """True if ``value`` is a valid value: in range and on the grid (1e-9 relative), or a choice."""
        if self.is_choice:
            try:
                return _strict_key(_json_value(value)) in self._index
            except (TypeError, ValueError):
                return False
        if self.is_quantized:
            return self._grid_index(value) is not None
        if _bad_number(value):
            return False
        x = float(value)
        if not math.isfinite(x):
            return False
        if self.is_log:
            return self._lo * (1 - _REL_TOL) <= x <= self._hi * (1 + _REL_TOL)
        tol = _REL_TOL * (self._hi - self._lo) + 4 * math.ulp(max(abs(self._lo), abs(self._hi)))
        return self._lo - tol <= x <= self._hi + tol

    def _outside(self, value: Any) -> ValueError:
        if self.is_choice:
            allowed = f"one of {_show(self._range)}"
        elif self.is_quantized:
            allowed = f"on the grid {self._lo!r} + k*{self._q!r} from {self.lower!r} to {self.upper!r}"
        else:
            allowed = f"a number in [{self._lo!r}, {self._hi!r}]"
        return ValueError(f"{self._where()}: value {_show(value)} is not in this space; it must be {allowed}")

    def encode(self, value: Any) -> float:
        """Map a valid value to u in [0, 1] (cell centre for discrete types); ValueError if not valid."""
        if self.is_choice:
            try:
                i = self._index.get(_strict_key(_json_value(value)))
            except (TypeError, ValueError):
                i = None
            if i is None:
                raise self._outside(value)
            return (i + 0.5) / len(self._range)
        if self.is_quantized:
            k = self._grid_index(value)
            if k is None:
                raise self._outside(value)
            if self._type == "quniform":
                return (k + 0.5) / (self._k_max + 1)
            centre = 0.5 * (self._log_edge(k) + self._log_edge(k + 1))
            return (centre - self._log_lo) / (self._log_hi - self._log_lo)
        if not self.contains(value):
            raise self._outside(value)
        x = float(value)
        if self.is_log:
            u = (math.log(x) - self._log_lo) / (self._log_hi - self._log_lo)
        else:
            u = (x - self._lo) / (self._hi - self._lo)
        return min(max(u, 0.0), 1.0)

    def cell_edges(self) -> np.ndarray | None:
        """The u-interval of each discrete value: ``edges[k] <= u < edges[k + 1]`` decodes to value k.

        None for the continuous types. A model that optimizes over the unit box can snap a point to
        ``encode(decode(u))`` with these, vectorised: the centre of its cell (the midpoint of the two
        edges, which is what ``encode`` gives). Needs one array entry per value, so only call it on a
        space whose ``num_values`` is of a size you are willing to hold.
        """
        n = self.num_values
        if n is None:
            return None
        if self._type == "qloguniform":
            span = self._log_hi - self._log_lo
            return np.array([(self._log_edge(k) - self._log_lo) / span for k in range(n + 1)])
        return np.arange(n + 1, dtype=float) / n

    def decode(self, u: float) -> Any:
        """Map any real u (clipped to [0, 1]) to a valid value; ValueError for NaN."""
        try:
            u = float(u)
        except (TypeError, ValueError):
            raise TypeError(
                f"{self._where()}: cannot decode u={_show(u)} ({_builtin_type(u).__name__}); "
                "u must be a number in [0, 1]"
            ) from None
        if math.isnan(u):
            raise ValueError(f"{self._where()}: cannot decode u=nan; u must be a number in [0, 1]")
        u = min(max(u, 0.0), 1.0)
        if self.is_choice:
            n = len(self._range)
            return copy.deepcopy(self._range[min(math.floor(u * n), n - 1)])
        if self._type == "quniform":
            return self._grid(min(math.floor(u * (self._k_max + 1)), self._k_max))
        if self._type == "qloguniform":
            return self._grid(self._log_cell(self._log_lo + u * (self._log_hi - self._log_lo)))
        lo, hi = float(self._lo), float(self._hi)
        if u == 0.0 or u == 1.0:
            return lo if u == 0.0 else hi
        x = lo * math.exp(u * (self._log_hi - self._log_lo)) if self.is_log else lo + u * (hi - lo)
        return min(max(x, lo), hi)

    # ------------------------------------------------------------------ JSON form

    def to_dict(self) -> dict[str, Any]:
        """JSON form as the original stored it; choices keep the original ``range: [0, n]`` layout."""
        if self.is_choice:
            return {"type": "choice", "range": [0, len(self._range)], "choice_list": self.range}
        return {"type": self._type, "range": self.range}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], name: str | None = None) -> SearchSpace:
        """Inverse of ``to_dict``; also reads ``{"type": "choice", "range": [v1, v2]}`` (no choice_list)."""
        where = f"search space {name!r}" if name is not None else "search space dict"
        if not isinstance(d, Mapping):
            raise TypeError(
                f"{where}: expected a dict like {{'type': 'uniform', 'range': [0, 1]}}, got {_show(d)} "
                f"({_builtin_type(d).__name__})"
            )
        missing = [key for key in ("type", "range") if key not in d]
        if missing:
            raise ValueError(
                f"{where}: missing key(s) {missing} in {_show(dict(d))}; expected "
                "{'type': ..., 'range': [...]}"
            )
        extra = sorted(str(key) for key in d if key not in ("type", "range", "choice_list"))
        if extra:
            raise ValueError(
                f"{where}: unknown key(s) {extra} in {_show(dict(d))}; allowed keys are 'type', 'range' "
                "and, for choices, 'choice_list'"
            )
        kind, rng = d["type"], d["range"]
        if "choice_list" in d:
            if kind != "choice":
                raise ValueError(
                    f"{where}: 'choice_list' is only valid with type 'choice', got type {kind!r}"
                )
            rng = d["choice_list"]
        return cls(kind, rng, name=name)

    # ------------------------------------------------------------------ comparison

    def _key(self) -> tuple[Any, ...]:
        if self.is_choice:
            return ("choice", _strict_key(self._range))
        return (self._type, self.is_integer, tuple(self._range))

    def __eq__(self, other: object) -> bool:
        """Same type and range (numbers compared by value, choices by type and value); name ignored."""
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        named = f", name={self._name!r}" if self._name is not None else ""
        return f"SearchSpace({self._type!r}, {self._range!r}{named})"


# ``type`` is a constructor argument and property name above; keep the builtin reachable.
_builtin_type = type


def normalize_space(space: Mapping[str, Any]) -> dict[str, SearchSpace]:
    """Validate a user's search space for create(); returns a new dict of named copies in key order.

    Values may be ``SearchSpace`` objects or dicts ``{"type", "range"}`` as read from JSON files.
    """
    if not isinstance(space, Mapping):
        raise TypeError(
            f"search space must be a dict of name -> search_space(...), got {_show(space)} "
            f"({_builtin_type(space).__name__})"
        )
    if len(space) == 0:
        raise ValueError(
            "search space is empty; give at least one hyperparameter, e.g. "
            "{'lr': search_space('loguniform', [1e-4, 1e-1])}"
        )
    out: dict[str, SearchSpace] = {}
    for key, value in space.items():
        if not isinstance(key, str):
            raise TypeError(
                f"search space keys must be str hyperparameter names, got {_show(key)} "
                f"({_builtin_type(key).__name__})"
            )
        if not key:
            raise ValueError("search space keys must be non-empty hyperparameter names, got ''")
        if isinstance(value, SearchSpace):
            out[key] = value.named(key)
        elif isinstance(value, Mapping):
            out[key] = SearchSpace.from_dict(value, name=key)
        else:
            raise TypeError(
                f"search space {key!r}: expected search_space(type, range) or a dict "
                f"{{'type': ..., 'range': [...]}}, got {_show(value)} ({_builtin_type(value).__name__})"
            )
    return out


def sample_params(space: Mapping[str, SearchSpace], rng: np.random.Generator) -> dict[str, Any]:
    """One draw of every hyperparameter from its prior, in the space's key order."""
    _check_rng(rng)
    return {name: sp.sample(rng) for name, sp in space.items()}


def _check_keys(space: Mapping[str, SearchSpace], params: Mapping[str, Any]) -> None:
    missing = [k for k in space if k not in params]
    extra = [k for k in params if k not in space]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"unknown {extra}")
        raise ValueError(
            f"hyperparameters do not match the search space: {'; '.join(parts)} "
            f"(search space has {list(space)})"
        )


def encode_params(space: Mapping[str, SearchSpace], params: Mapping[str, Any]) -> np.ndarray:
    """Point of the unit box for ``params``: shape (d,), in the space's key order."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a dict of name -> value, got {_show(params)}")
    _check_keys(space, params)
    out = np.empty(len(space), dtype=float)
    for i, (name, sp) in enumerate(space.items()):
        try:
            out[i] = sp.encode(params[name])
        except ValueError as err:
            if sp.name is not None:
                raise
            raise ValueError(f"hyperparameter {name!r}: {err}") from None
    return out


def decode_params(space: Mapping[str, SearchSpace], u: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """Valid hyperparameters for the unit-box point ``u`` (any reals; clipped to the box)."""
    point = np.asarray(u, dtype=float)
    if point.shape != (len(space),):
        raise ValueError(
            f"point has shape {point.shape}, but the search space has {len(space)} hyperparameters "
            f"{list(space)}; expected shape ({len(space)},)"
        )
    out: dict[str, Any] = {}
    for (name, sp), x in zip(space.items(), point, strict=True):
        try:
            out[name] = sp.decode(float(x))
        except ValueError as err:
            if sp.name is not None:
                raise
            raise ValueError(f"hyperparameter {name!r}: {err}") from None
    return out


def space_to_json(space: Mapping[str, SearchSpace]) -> dict[str, dict[str, Any]]:
    """``{name: to_dict()}``, the form stored in the JSON state files."""
    return {name: sp.to_dict() for name, sp in space.items()}


def space_from_json(d: Mapping[str, Mapping[str, Any]]) -> dict[str, SearchSpace]:
    """Inverse of ``space_to_json``: named ``SearchSpace`` objects in the stored key order."""
    return normalize_space(d)


# Compatibility with the original API: ``hpopt.search_space(type, range)``.
search_space = SearchSpace
