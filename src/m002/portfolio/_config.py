"""`PortfolioConfig`: every rule of the portfolio layer as one frozen, validated value.

The rules themselves, and the order they run in, are stated in `m002.portfolio._build`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, NoReturn

from m002._checks import check_field_types, set_choice
from m002._schema import DATE, TICKER
from m002.exceptions import ConfigError

__all__ = ["CLOSE", "POSITION_SIZE", "TARGET_WEIGHT", "PortfolioConfig", "Sizing"]

TARGET_WEIGHT: Final = "target_weight"
"""The column `build_portfolio` adds."""
POSITION_SIZE: Final = "position_size"
CLOSE: Final = "close"

TRADING_DAYS: Final = 252
CONVERGED: Final = 1e-12
"""Largest weight difference that `PortfolioConfig.memory_dates` lets a partial trade leave
between two runs that started at different dates."""
SETTLED: Final = 1e-8
"""The same for `PortfolioConfig.memory_dates` with ``exact=False``: a run that reads only
the history a date needs matches a full-history run to about 1e-8 whatever the portfolio
does (the exponential averages among the features forget their start to that degree after
the pipeline's `EWM_SETTLE_ROWS`), so a tighter bound on the partial trade would buy nothing
but longer histories."""
COUPLING_DATES: Final = 252
"""Dates allowed for the discrete state (hysteresis, top-k holdings, cooldown and holding
clocks, free places) and for rounding to line up, before two runs that started at different
dates give the same weights. Measured on seeded AR(1) scores (150 names, persistence 0.9 and
0.98, two later starts each), dates to exact equality at most: 216 for the default
configuration, 201 with hysteresis 0.9/0.6, 101 with hysteresis, cooldown 5 and minimum hold
10, 18 for top-k 10/2; on the S&P sample with 20-day momentum as the score (starts 2005 and
2012): 147 (default), 135 (hysteresis 0.9/0.6, cooldown 5, hold 10), 6 (hysteresis at trade
rate 1), 3 (top-k 10/2)."""


class Sizing(StrEnum):
    """How the target book is drawn from the scores of one date."""

    SPEC = "spec"
    """The policy's own ``position_size`` (layer 3), name by name."""
    RANK = "rank"
    """The cross-sectional rank of the score, demeaned: a dollar-neutral book."""
    TOPK = "topk"
    """Qlib's TopkDropout: hold ``topk`` names, replace at most ``n_drop`` a day."""


@dataclass(frozen=True)
class PortfolioConfig:
    """Rules of the portfolio layer (`build_portfolio` documents each one and their order).

    Weights are fractions of equity (``0.05`` = 5% of the book's capital in one name, signed:
    > 0 long, < 0 short). A rule whose field is None is off. ``sizing`` takes a `Sizing` or its
    string value and holds the enum. `PortfolioConfig.passthrough` gives the configuration
    whose ``target_weight`` is the policy's ``position_size``, unchanged.

    Parameters
    ----------
    sizing : Sizing, default ``Sizing.RANK``
        ``"spec"``: the policy's ``position_size``. ``"rank"``: ranks of the score, demeaned
        (long-only: a tilt, every name weighted by its rank quantile). ``"topk"``: ``topk``
        names held, ``n_drop`` replaced a day at most (long the best; without ``long_only``
        also short the worst).
    score_column : str, default ``"pred_expected_ret_pct"``
        Bullish-when-high score that ranks the names: the head's expected return, or
        ``"policy_score"`` for the policy's score. A row whose score is null, NaN or infinite
        is flat.
    long_only : bool, default True
        No short weight: ``"spec"`` drops the shorts, ``"rank"`` is a tilt (every name held,
        weight proportional to its rank quantile; with a hysteresis, the names it keeps above
        the median, weight ``quantile - 0.5``), and
        ``"topk"`` the best names only.
    enter_quantile, exit_quantile : float or None, default None
        Hysteresis for ``"rank"`` (both or neither; ``0.5 <= exit <= enter <= 1``): a flat
        name enters long at a rank quantile >= ``enter_quantile`` and stays long while >=
        ``exit_quantile``; shorts mirror it (enter <= 1 - enter, stay <= 1 - exit). None:
        every scored name is held, long above the median, short below it (long-only: the
        tilt).
    topk : int, default 10
        Names held per side by ``"topk"`` (>= 1).
    n_drop : int, default 2
        Held names ``"topk"`` may replace per side and date (0 <= n_drop <= topk).
    max_positions : int or None, default None
        Largest number of names held at once (>= 1): the target keeps the strongest, and a
        new position opens only into a free place.
    cooldown_days : int, default 0
        Dates a name stays flat after a position in it closed, before it may open again
        (>= 0). From 1 on, a reversal takes a close and this wait.
    min_hold_days : int, default 0
        Dates a position is held at least before it may close or reverse (>= 0).
    trade_rate : float, default 0.1
        Fraction of the way from the held weight to the target traded per date, in (0, 1].
        Closes are made in full.
    no_trade_band : float, default 0.0
        Targets closer than this to the held weight are not traded, and a trade that ends
        closer than this to its target goes all the way (>= 0).
    edge_over_cost : bool, default False
        Trade a name only where the expected edge of the change exceeds its cost (the rule:
        `m002.portfolio._trade.trade`, step 4).
    edge_column : str, default ``"pred_expected_ret_pct"``
        The expected return of each row that the edge rule reads.
    edge_scale : float, default 0.01
        Factor that turns ``edge_column`` into a fraction of price (0.01 for percent) (> 0).
    cost_bps : float, default 10.0
        Cost per side of a trade for the edge rule, in basis points of the traded weight
        (>= 0).
    max_weight : float or None, default 0.1
        Largest absolute weight of one name (> 0).
    gross_target : float or None, default 1.0
        Sum of absolute target weights the book is scaled to, up or down (> 0). None: the
        ranks and top-k books have gross 1, the spec book keeps its own.
    max_leverage : float or None, default 1.0
        Largest sum of absolute weights held on any date (> 0, >= ``gross_target``).
    net_min, net_max : float or None, default None
        Band for the book's net weight (sum of signed weights); ``net_min <= net_max``.
    beta_neutral : bool, default False
        Set the long and short sides so that the book's beta to the equal-weight universe
        is 0 (needs shorts; no net band with it).
    beta_window : int, default 60
        Dates of daily returns behind each name's beta (>= 2).
    vol_target : float or None, default None
        Annualised volatility the target book is scaled to (> 0).
    vol_window : int, default 60
        Dates of daily returns behind the book's ex-ante volatility (>= 2).

    The defaults are the shipped configuration: a long-only tilt toward the names whose
    expected return the head ranks highest (with the pipeline's ``[head] target =
    "excess"``, the return over the date's mean), traded a tenth of the way to its target
    each date. It was chosen on the S&P sample's walk-forward test years up to 2013 among
    dollar-neutral and long-only rank and top-10 books at trade rates 0.1 and 0.25 on three
    scores (the head's expected return, the spec policy's and the symmetric policy's score)
    and two head targets, by the best net Sharpe at 10 bps among the books trading at most
    25 times a year that hold at least half their gross on the demo's synthetic universe
    (`benchmarks/bench_portfolio.py`); the README gives its figures on those years and on
    the later ones.

    Raises
    ------
    ConfigError
        For a value out of its range or rules that cannot hold together, naming the field,
        the rule and the value received.

    Examples
    --------
    >>> PortfolioConfig(sizing="topk", topk=10, n_drop=2).sizing is Sizing.TOPK
    True
    >>> PortfolioConfig(trade_rate=0.0)
    Traceback (most recent call last):
    ...
    m002.exceptions.ConfigError: `trade_rate` must be in (0, 1], got `trade_rate=0.0`
    """

    sizing: str = Sizing.RANK
    score_column: str = "pred_expected_ret_pct"
    long_only: bool = True
    enter_quantile: float | None = None
    exit_quantile: float | None = None
    topk: int = 10
    n_drop: int = 2
    max_positions: int | None = None
    cooldown_days: int = 0
    min_hold_days: int = 0
    trade_rate: float = 0.1
    no_trade_band: float = 0.0
    edge_over_cost: bool = False
    edge_column: str = "pred_expected_ret_pct"
    edge_scale: float = 0.01
    cost_bps: float = 10.0
    max_weight: float | None = 0.1
    gross_target: float | None = 1.0
    max_leverage: float | None = 1.0
    net_min: float | None = None
    net_max: float | None = None
    beta_neutral: bool = False
    beta_window: int = 60
    vol_target: float | None = None
    vol_window: int = 60

    def __post_init__(self) -> None:
        check_field_types(self)
        set_choice(self, "sizing", Sizing)
        for name in ("score_column", "edge_column"):
            if getattr(self, name) == "":
                _fail(f"`{name}` must name a column, got `{name}=''`")
        self._check_membership()
        self._check_memory()
        self._check_risk()

    def _check_membership(self) -> None:
        enter, exit_ = self.enter_quantile, self.exit_quantile
        if (enter is None) != (exit_ is None):
            _fail(
                "`enter_quantile` and `exit_quantile` are set together or not at all, got "
                f"`enter_quantile={enter!r}`, `exit_quantile={exit_!r}`"
            )
        if enter is not None and exit_ is not None:
            if self.sizing != Sizing.RANK:
                _fail(
                    "`enter_quantile`/`exit_quantile` apply to `sizing='rank'` only, got "
                    f"`sizing={str(self.sizing)!r}`"
                )
            if not 0.5 <= exit_ <= enter <= 1.0:
                _fail(
                    "`enter_quantile` and `exit_quantile` must satisfy 0.5 <= exit_quantile "
                    f"<= enter_quantile <= 1, got `enter_quantile={enter!r}`, "
                    f"`exit_quantile={exit_!r}`"
                )
        _at_least("topk", self.topk, 1)
        _at_least("n_drop", self.n_drop, 0)
        if self.n_drop > self.topk:
            _fail(f"`n_drop` must be <= `topk`, got `n_drop={self.n_drop}`, `topk={self.topk}`")
        if self.max_positions is not None:
            _at_least("max_positions", self.max_positions, 1)
            sides = 1 if self.long_only else 2
            if self.sizing == Sizing.TOPK and self.max_positions < sides * self.topk:
                _fail(
                    f"`max_positions` must be >= {sides} x `topk` with `sizing='topk'` (it "
                    f"holds `topk` names per side), got `max_positions={self.max_positions}`, "
                    f"`topk={self.topk}`"
                )

    def _check_memory(self) -> None:
        _at_least("cooldown_days", self.cooldown_days, 0)
        _at_least("min_hold_days", self.min_hold_days, 0)
        if not 0.0 < self.trade_rate <= 1.0:
            _fail(f"`trade_rate` must be in (0, 1], got `trade_rate={self.trade_rate!r}`")
        _at_least("no_trade_band", self.no_trade_band, 0.0)
        _above("edge_scale", self.edge_scale, 0.0)
        _at_least("cost_bps", self.cost_bps, 0.0)

    def _check_risk(self) -> None:
        for name in ("max_weight", "gross_target", "max_leverage", "vol_target"):
            value = getattr(self, name)
            if value is not None:
                _above(name, value, 0.0)
        gross, cap = self.gross_target, self.max_leverage
        if gross is not None and cap is not None and gross > cap:
            _fail(
                "`gross_target` must be <= `max_leverage`, got "
                f"`gross_target={gross!r}`, `max_leverage={cap!r}`"
            )
        low, high = self.net_min, self.net_max
        if low is not None and high is not None and low > high:
            _fail(f"`net_min` must be <= `net_max`, got `net_min={low!r}`, `net_max={high!r}`")
        if self.beta_neutral:
            if self.long_only:
                _fail(
                    "`beta_neutral` needs a short side to offset the longs' beta, got "
                    "`long_only=True`"
                )
            if low is not None or high is not None:
                _fail(
                    "`beta_neutral` sets the book's net itself: leave `net_min`/`net_max` "
                    f"unset, got `net_min={low!r}`, `net_max={high!r}`"
                )
        _at_least("beta_window", self.beta_window, 2)
        _at_least("vol_window", self.vol_window, 2)

    @classmethod
    def passthrough(cls, *, score_column: str = "policy_score") -> PortfolioConfig:
        """The configuration whose ``target_weight`` equals the policy's ``position_size``
        bit for bit: spec sizing, every memory and risk rule off.

        >>> PortfolioConfig.passthrough().trade_rate
        1.0
        """
        return cls(
            sizing=Sizing.SPEC,
            score_column=score_column,
            long_only=False,
            trade_rate=1.0,
            max_weight=None,
            gross_target=None,
            max_leverage=None,
        )

    def replace(self, **changes: object) -> PortfolioConfig:
        """``dataclasses.replace`` with ``changes``, validated; the hysteresis, which only a
        rank book has, is dropped where the result does not rank (unless ``changes`` set it).

        >>> ranked = PortfolioConfig(enter_quantile=0.8, exit_quantile=0.6)
        >>> ranked.replace(sizing="topk").enter_quantile is None
        True
        """
        if changes.get("sizing", self.sizing) != Sizing.RANK:
            changes = {"enter_quantile": None, "exit_quantile": None, **changes}
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def two_sided_neutral(self) -> bool:
        """Whether the book is dollar-neutral by construction: a rank or top-k book with
        shorts, no net band and no beta rule."""
        return (
            self.sizing != Sizing.SPEC
            and not self.long_only
            and not self.beta_neutral
            and self.net_min is None
            and self.net_max is None
        )

    def return_window(self) -> int:
        """Dates of daily returns the rules read (0 when none does): the longest of
        ``beta_window`` (with ``beta_neutral``) and ``vol_window`` (with ``vol_target``)."""
        windows = [self.beta_window] if self.beta_neutral else []
        windows += [self.vol_window] if self.vol_target is not None else []
        return max(windows, default=0)

    def is_stateless(self) -> bool:
        """Whether every date's weights depend on that date's rows alone (plus the return
        window): no rule carries state from one date to the next."""
        return self.trade_rate == 1.0 and not self.has_discrete_state()

    def has_discrete_state(self) -> bool:
        """Whether a rule carries a discrete state from one date to the next (who is held for
        hysteresis, top-k or the free places, the cooldown and holding clocks, a position
        the band or the edge leaves in place); the partial trade alone carries weights,
        whose differences between two runs shrink by ``1 - trade_rate`` a date."""
        return (
            self.sizing == Sizing.TOPK
            or self.enter_quantile is not None
            or self.cooldown_days > 0
            or self.min_hold_days > 0
            or self.no_trade_band > 0.0
            or self.edge_over_cost
            or self.max_positions is not None
        )

    def memory_dates(self, *, exact: bool = True) -> int:
        """Dates of history before a date D that a run needs for D's weights to equal those
        of a run over the full history (``exact=False``: to within `SETTLED`, where the book
        has no discrete state; a book with one gets the exact count either way).

        The trailing returns need ``return_window() + 1`` dates (a return needs the close
        before it): from then on the returns rules agree bit for bit. A partial trade
        (``trade_rate < 1``) leaves a difference between two runs that shrinks by
        ``1 - trade_rate`` a date: the dates it takes to fall below `CONVERGED` (1e-12) of a
        full book are added, or below `SETTLED` (1e-8) when not ``exact``. A rule with a
        discrete state (`has_discrete_state`) adds `COUPLING_DATES` (measured, not a bound: a
        name whose rank quantile stays between ``exit_quantile`` and ``enter_quantile`` keeps
        the runs apart for as long as it stays there) and its clocks (``cooldown_days``,
        ``min_hold_days``); so does the partial trade alone when ``exact``, for its last
        differences to round away. 0 for a stateless configuration without returns.

        A ``no_trade_band`` and the edge rule have no such number: two runs that hold a
        name at different weights, where neither the band nor the edge lets either trade,
        both leave it there, so they stay apart until the target or the edge moves past
        both. Measured: differences of up to about the band (2e-3 with a band of 2e-3, 900
        dates on); with the edge rule on the S&P sample, below 1e-12 after about 200 dates
        and exactly equal only after 352 and 686.

        >>> PortfolioConfig.passthrough().memory_dates()
        0
        >>> PortfolioConfig(trade_rate=0.5).memory_dates()
        292
        >>> PortfolioConfig(trade_rate=0.5).memory_dates(exact=False)
        27
        """
        window = self.return_window() + 1 if self.return_window() else 0
        if self.is_stateless():
            return window
        exact = exact or self.has_discrete_state()
        decay = 0
        if self.trade_rate < 1.0:
            bound = CONVERGED if exact else SETTLED
            decay = math.ceil(math.log(bound) / math.log1p(-self.trade_rate))
        coupling = COUPLING_DATES if exact else 0
        return window + decay + coupling + self.cooldown_days + self.min_hold_days

    def required_columns(self) -> tuple[str, ...]:
        """Columns `build_portfolio` reads with this configuration: ticker, date, the score,
        ``position_size`` (spec sizing), ``close`` (beta or volatility rules) and the edge
        column (edge rule)."""
        columns = [TICKER, DATE, self.score_column]
        if self.sizing == Sizing.SPEC:
            columns.append(POSITION_SIZE)
        if self.return_window():
            columns.append(CLOSE)
        if self.edge_over_cost:
            columns.append(self.edge_column)
        return tuple(dict.fromkeys(columns))


def _fail(msg: str) -> NoReturn:
    raise ConfigError(msg)


def _at_least(name: str, value: float, lower: float) -> None:
    if value < lower:
        _fail(f"`{name}` must be >= {lower}, got `{name}={value!r}`")


def _above(name: str, value: float, lower: float) -> None:
    if value <= lower:
        _fail(f"`{name}` must be > {lower}, got `{name}={value!r}`")
