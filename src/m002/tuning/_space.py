"""The search space of `m002 tune`: which policy and portfolio fields vary, over what range.

`DEFAULT_SPACE` is the documented table (docs/tuning.md prints it); `space_from_dict` applies a
user's overrides (the ``[space]`` table of ``--space FILE``) to it; `suggest` draws one
trial's values through Optuna's define-by-run interface, and `changes_of` turns a trial's
stored values back into config fields.

A parameter can apply to one sizing only (``when``): the policy's thresholds and sizing gain
only move the spec sizing's positions, hysteresis only the rank book, ``topk`` and ``n_drop``
only top-k. Such a parameter is drawn only in trials of its sizing, so the search does not
spend trials on values that change nothing. Two pairs are ordered after drawing (the lower
value goes to the first field): ``exit_quantile <= enter_quantile`` and ``net_min <= net_max``;
and ``n_drop`` is capped at ``topk``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from m002.exceptions import ConfigError
from m002.policy import PolicyConfig
from m002.portfolio import PortfolioConfig

__all__ = ["DEFAULT_SPACE", "Param", "changes_of", "distribution", "space_from_dict", "suggest"]

Value = float | int | bool | str


@dataclass(frozen=True)
class Param:
    """One searched field: a float or int range (``log`` for a log scale) or a set of choices,
    drawn only when the trial's sizing is in ``when`` (None: always)."""

    name: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    integer: bool = False
    choices: tuple[Value, ...] | None = None
    when: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.choices is not None:
            if not self.choices:
                _fail(f"`{self.name}` needs at least one choice")
            return
        if self.low is None or self.high is None:
            _fail(f"`{self.name}` needs `low` and `high`, or `choices`")
        if not self.low <= self.high:
            _fail(f"`{self.name}`: `low` must be <= `high`, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            _fail(f"`{self.name}`: a log range needs `low` > 0, got low={self.low}")

    def describe(self) -> str:
        """The range as the docs and the CLI print it."""
        if self.choices is not None:
            span = " | ".join(str(c).lower() if isinstance(c, bool) else str(c)
                              for c in self.choices)  # fmt: skip
        else:
            span = f"{self.low:g} .. {self.high:g}" + (" (log)" if self.log else "")
            span += " (integer)" if self.integer else ""
        return span + (f", when sizing is {' or '.join(self.when)}" if self.when else "")


_SPEC, _RANK, _TOPK = ("spec",), ("rank",), ("topk",)
DEFAULT_SPACE: Final = (
    Param("sizing", choices=("spec", "rank", "topk")),
    Param("long_only", choices=(True, False)),
    Param("risk_aversion", 0.001, 1.0, log=True),
    Param("overheat_multiplier", 0.5, 1.5),
    Param("late_breakdown_multiplier", 0.5, 1.5),
    Param("theta_long", 0.0, 0.01, when=_SPEC),
    Param("theta_short", -0.01, 0.0, when=_SPEC),
    Param("k", 0.25, 8.0, log=True, when=_SPEC),
    Param("size_max", 0.1, 1.0, when=_SPEC),
    Param("peak_prob_threshold", 0.2, 0.95, when=_SPEC),
    Param("enter_quantile", 0.5, 1.0, when=_RANK),
    Param("exit_quantile", 0.5, 1.0, when=_RANK),
    Param("topk", 3, 30, integer=True, when=_TOPK),
    Param("n_drop", 1, 5, integer=True, when=_TOPK),
    Param("cooldown_days", 0, 10, integer=True),
    Param("trade_rate", 0.02, 1.0, log=True),
    Param("gross_target", 0.25, 1.0),
    Param("net_min", -1.0, 1.0),
    Param("net_max", -1.0, 1.0),
)
"""The search of `m002 tune` unless ``--space`` overrides it (docs/tuning.md)."""

_PAIRS: Final = (("exit_quantile", "enter_quantile"), ("net_min", "net_max"))
_FIELDS: Final = {
    f.name for cls in (PolicyConfig, PortfolioConfig) for f in dataclasses.fields(cls)
}
_NOT_SEARCHED: Final = ("score_column", "edge_column", "vol_window")
"""Fields fixed by the run: the score the book ranks and the volatility window shape the
cached inputs."""


def _fail(msg: str) -> NoReturn:
    raise ConfigError(msg)


def space_from_dict(
    overrides: Mapping[str, Any], base: tuple[Param, ...] = DEFAULT_SPACE
) -> tuple[tuple[Param, ...], dict[str, Value]]:
    """The space with ``overrides`` applied, and the fields they fix.

    Each key names a policy or portfolio field. A table (``{low, high, log, integer}`` or
    ``{choices}``, optionally ``when``) sets its range, adding the field if the default
    space lacks it; a plain value fixes the field at that value for every trial.

    >>> space, fixed = space_from_dict({"trade_rate": {"low": 0.05, "high": 0.5},
    ...                                 "cooldown_days": 0})
    >>> [p for p in space if p.name == "trade_rate"][0].describe()
    '0.05 .. 0.5'
    >>> fixed
    {'cooldown_days': 0}
    """
    params = {p.name: p for p in base}
    fixed: dict[str, Value] = {}
    for name, value in overrides.items():
        if name not in _FIELDS or name in _NOT_SEARCHED:
            _fail(
                f"[space] `{name}` is not a field the search can vary (a [policy] or "
                f"[portfolio] field other than {', '.join(_NOT_SEARCHED)})"
            )
        params.pop(name, None)
        if isinstance(value, Mapping):
            allowed = {"low", "high", "log", "integer", "choices", "when"}
            unknown = sorted(set(value) - allowed)
            if unknown:
                _fail(f"[space] `{name}`: unknown key(s) {unknown}; allowed: {sorted(allowed)}")
            kwargs = dict(value)
            for key in ("choices", "when"):
                if key in kwargs:
                    kwargs[key] = tuple(kwargs[key])
            params[name] = Param(name, **kwargs)
        else:
            fixed[name] = value
    return tuple(params.values()), fixed


def distribution(param: Param) -> Any:
    """The Optuna distribution `suggest` draws ``param`` from."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if param.choices is not None:
        return CategoricalDistribution(list(param.choices))
    if param.integer:
        return IntDistribution(int(param.low or 0), int(param.high or 0), log=param.log)
    return FloatDistribution(float(param.low or 0.0), float(param.high or 0.0), log=param.log)


def suggest(trial: Any, space: tuple[Param, ...], sizing: str) -> dict[str, Value]:
    """Draw the trial's values (an ``optuna.Trial``); ``sizing`` is the run's own, used where
    the space does not search it."""
    values: dict[str, Value] = {}
    # the sizing first, wherever an override put it: it decides which parameters apply
    for param in space:
        if param.name == "sizing" and param.choices is not None:
            sizing = str(_draw(trial, "sizing", distribution(param)))
            values["sizing"] = sizing
    for param in space:
        if param.name == "sizing" and param.choices is not None:
            continue
        if param.when is not None and sizing not in param.when:
            continue
        values[param.name] = _draw(trial, param.name, distribution(param))
    return values


def _draw(trial: Any, name: str, dist: Any) -> Value:
    """The trial's value of ``name`` from ``dist`` (`distribution`), through Optuna's public
    ``suggest_*`` calls."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        value: Value = trial.suggest_categorical(name, list(dist.choices))
    elif isinstance(dist, IntDistribution):
        value = trial.suggest_int(name, dist.low, dist.high, log=dist.log)
    else:
        value = trial.suggest_float(name, dist.low, dist.high, log=dist.log)
    return value


def changes_of(values: Mapping[str, Value], fixed: Mapping[str, Value]) -> dict[str, Value]:
    """Config fields of a trial: its drawn values and the fixed ones, each ordered pair put in
    order (a hysteresis needs both its quantiles: one drawn alone is dropped)."""
    changes = {**values, **fixed}
    for low, high in _PAIRS:
        if low in changes and high in changes:
            a, b = changes[low], changes[high]
            if isinstance(a, int | float) and isinstance(b, int | float) and a > b:
                changes[low], changes[high] = b, a
    if ("enter_quantile" in changes) != ("exit_quantile" in changes):
        changes.pop("enter_quantile", None)
        changes.pop("exit_quantile", None)
    # a book cannot drop more names a day than it holds: without the cap, a search that
    # settles on small books draws invalid trials only, which the sampler cannot learn from
    drop, topk = changes.get("n_drop"), changes.get("topk")
    if isinstance(drop, int) and isinstance(topk, int) and drop > topk:
        changes["n_drop"] = topk
    return changes
