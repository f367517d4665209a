"""A daily, cost-aware portfolio backtest of target positions.

Conventions (each one is tested on a hand-computed frame):

- ``signals`` holds, per (ticker, date), the target position decided from data up to that
  date's close: a signed size (> 0 long, < 0 short). With ``allow_short=False`` negative sizes
  count as 0.
- Weights: on each date the sizes are scaled down, never up, so their absolute sum is at most
  ``gross_cap``: ``w = s * min(1, gross_cap / sum(|s|))``.
- A weight decided on a ticker's row t is held over its next row. With ``execution="close"``
  it is traded at that day's close and earns ``close[t+1] / close[t] - 1``; with
  ``execution="next_open"`` it is traded at the next day's open and earns the open-to-open
  return ``open[t+2] / open[t+1] - 1``, booked on row t+1 (adjusted prices; a missing day in
  between is bridged). A position never earns the return of the day it was decided on.
- Shorts pay a borrow fee of ``borrow_bps`` a year on their absolute weight, charged daily
  (1/252 of it) on every day they are held.
- Weights are reset to target every day (drift is not traded); ``turnover`` on a day is
  ``sum(|w_held - w_held_before|)`` over the tickers, both sides counted; its cost,
  ``turnover * (cost_bps + slippage_bps) / 1e4``, is charged on the first day the new weights
  are held. A position still open at a ticker's last row is not closed or charged.
- ``net_return = gross_return - cost``; equity compounds the daily net returns from 1.

Trades are the runs of consecutive rows a ticker is held on one side; resizing within a run
is the same trade. A trade's ``pnl`` is its contribution to the portfolio's returns (weight
times return, summed) less the costs of opening, resizing and closing it, so the trades' pnl
and the costs of the days add up to the summed net returns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

import polars as pl

from m002._checks import check_field_types
from m002._polars import collect
from m002._schema import DATE, TICKER, require_columns
from m002.exceptions import ConfigError, SchemaError

__all__ = [
    "DAILY_COLUMNS",
    "EXECUTIONS",
    "TRADE_COLUMNS",
    "BacktestConfig",
    "BacktestResult",
    "run_backtest",
]

EXECUTIONS: Final = ("close", "next_open")
TRADING_DAYS: Final = 252

DAILY_COLUMNS: Final = (
    DATE,
    "strategy",
    "gross_return",
    "net_return",
    "cost",
    "turnover",
    "gross_exposure",
    "net_exposure",
    "equity",
    "drawdown",
)
TRADE_COLUMNS: Final = (
    "strategy",
    TICKER,
    "side",
    "entry_date",
    "exit_date",
    "holding_days",
    "return_pct",
    "pnl",
)


@dataclass(frozen=True)
class BacktestConfig:
    """Costs and constraints of the backtest.

    Parameters
    ----------
    cost_bps : float
        Commission per side in basis points of the traded value (10 = 0.1%).
    slippage_bps : float
        Slippage per side in basis points, charged like the commission.
    gross_cap : float
        Largest sum of absolute weights (1 = fully invested, no leverage).
    allow_short : bool
        False treats every negative target as 0.
    execution : {"close", "next_open"}
        Where a decision of day t is traded: at that close (the close-to-close return from
        then on), or at the next day's open (the open-to-open return from then on: what a
        trader who decides after the close can really get).
    borrow_bps : float
        Yearly fee on the absolute weight of short positions, in basis points, charged daily.
    """

    cost_bps: float = 10.0
    slippage_bps: float = 0.0
    gross_cap: float = 1.0
    allow_short: bool = True
    execution: str = "close"
    borrow_bps: float = 0.0

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.execution not in EXECUTIONS:
            msg = f"`execution` must be one of {EXECUTIONS}, got `execution={self.execution!r}`"
            raise ConfigError(msg)
        for name in ("cost_bps", "slippage_bps", "borrow_bps"):
            if getattr(self, name) < 0:
                msg = f"`{name}` must be >= 0, got `{name}={getattr(self, name)}`"
                raise ConfigError(msg)
        if self.gross_cap <= 0:
            msg = f"`gross_cap` must be > 0, got `gross_cap={self.gross_cap}`"
            raise ConfigError(msg)

    @property
    def cost_rate(self) -> float:
        """Cost per unit of traded weight (one side)."""
        return (self.cost_bps + self.slippage_bps) / 1e4

    @property
    def borrow_rate(self) -> float:
        """Daily fee per unit of short weight."""
        return self.borrow_bps / 1e4 / TRADING_DAYS


@dataclass(frozen=True)
class BacktestResult:
    """``daily`` (`DAILY_COLUMNS`, long format) and ``trades`` (`TRADE_COLUMNS`) of every
    strategy, in the order they were given."""

    daily: pl.DataFrame
    trades: pl.DataFrame
    strategies: tuple[str, ...]
    config: BacktestConfig

    def metrics(
        self, *, after: date | None = None, until: date | None = None
    ) -> dict[str, dict[str, Any]]:
        """`performance_metrics` of each strategy, on the days in ``(after, until]`` (an open
        end where a bound is None) and the trades entered in them.

        A sub-period starts its equity at 1 on its first day, so its CAGR, drawdown and
        Sharpe are those of an account opened then (holding the book it had: the weights
        and costs of the first day are the full run's). Example: choose on the days up to
        one date and report the days after it.
        """
        days, entries = pl.lit(value=True), pl.lit(value=True)
        if after is not None:
            days, entries = days & (pl.col(DATE) > after), entries & (pl.col("entry_date") > after)
        if until is not None:
            days &= pl.col(DATE) <= until
            entries &= pl.col("entry_date") <= until
        out = {}
        for name in self.strategies:
            daily = self.daily.filter((pl.col("strategy") == name) & days)
            if after is not None or until is not None:
                daily = _with_equity(daily)
            trades = self.trades.filter((pl.col("strategy") == name) & entries)
            out[name] = performance_metrics(daily, trades)
        return out


def _weights(signals: pl.DataFrame, strategy: str, config: BacktestConfig) -> pl.Expr:
    size = pl.col(strategy).cast(pl.Float64).fill_nan(None).fill_null(0.0)
    if not config.allow_short:
        size = size.clip(lower_bound=0.0)
    gross = size.abs().sum().over(DATE)
    scale = pl.when(gross > config.gross_cap).then(config.gross_cap / gross).otherwise(1.0)
    return size * scale


def _rows(panel: pl.DataFrame, strategy: str, config: BacktestConfig) -> pl.DataFrame:
    """Per (ticker, date): held weight, return, contribution and the cost split between the
    trade being held and the one being closed."""
    c = config.cost_rate
    held = pl.col("_w").shift(1).over(TICKER).fill_null(0.0)
    if config.execution == "next_open":  # from this row's open to the next row's
        ret = pl.col("open").shift(-1).over(TICKER) / pl.col("open") - 1.0
    else:  # from the previous row's close to this row's
        ret = pl.col("close") / pl.col("close").shift(1).over(TICKER) - 1.0
    framed = panel.with_columns(_weights(panel, strategy, config).alias("_w")).with_columns(
        held.alias("held"), ret.alias("ret")
    )
    borrow = pl.col("held").clip(upper_bound=0.0).abs() * config.borrow_rate
    before = pl.col("held").shift(1).over(TICKER).fill_null(0.0)
    side, side_before = pl.col("held").sign(), before.sign()
    flipped = side != side_before
    return framed.with_columns(
        side.alias("side"),
        (pl.col("held") * pl.col("ret").fill_null(0.0)).alias("contribution"),
        ((pl.col("held") - before).abs()).alias("traded"),
        # the cost of closing the previous side is that trade's; the rest is the current one's
        (pl.when(flipped).then(before.abs()).otherwise(0.0) * c).alias("exit_cost"),
        (pl.when(flipped).then(pl.col("held").abs()).otherwise((pl.col("held") - before).abs()) * c
         + borrow).alias("own_cost"),
        borrow.alias("borrow"),
    )  # fmt: skip


def _daily(rows: pl.DataFrame, strategy: str, config: BacktestConfig) -> pl.DataFrame:
    # one date's rows summed in ticker order: a hash group-by adds each thread's partial sums
    # in the order the threads finish, which changes the last bits from run to run
    daily = (
        rows.sort(DATE, TICKER)
        .group_by(DATE, maintain_order=True)
        .agg(
            pl.col("contribution").sum().alias("gross_return"),
            pl.col("traded").sum().alias("turnover"),
            pl.col("held").abs().sum().alias("gross_exposure"),
            pl.col("held").sum().alias("net_exposure"),
            pl.col("borrow").sum().alias("_borrow"),
        )
        .sort(DATE)
        .with_columns((pl.col("turnover") * config.cost_rate + pl.col("_borrow")).alias("cost"))
        .with_columns((pl.col("gross_return") - pl.col("cost")).alias("net_return"))
    )
    return _with_equity(daily.with_columns(pl.lit(strategy).alias("strategy"))).select(
        DAILY_COLUMNS
    )


def _with_equity(daily: pl.DataFrame) -> pl.DataFrame:
    """``equity`` (the net returns compounded from 1) and ``drawdown`` of one strategy's
    days, in date order."""
    equity = (1.0 + pl.col("net_return")).cum_prod()
    # the peak includes the starting equity of 1
    drawdown = equity / pl.max_horizontal(equity.cum_max(), pl.lit(1.0)) - 1.0
    return daily.with_columns(equity.alias("equity"), drawdown.alias("drawdown"))


def _trades(rows: pl.DataFrame, strategy: str) -> pl.DataFrame:
    run = (pl.col("side") != pl.col("side").shift(1).over(TICKER).fill_null(0.0)).cum_sum()
    return (
        rows.with_columns(
            run.over(TICKER).alias("_run"),
            # a closing cost lands on the row after the trade's last one: move it back
            pl.col("exit_cost").shift(-1).over(TICKER).fill_null(0.0).alias("_closing"),
        )
        .filter(pl.col("side") != 0.0)
        .group_by(TICKER, "_run", maintain_order=True)
        .agg(
            pl.col("side").first().alias("_side"),
            pl.col(DATE).first().alias("entry_date"),
            pl.col(DATE).last().alias("exit_date"),
            pl.len().cast(pl.Int64).alias("holding_days"),
            (((1.0 + pl.col("side") * pl.col("ret").fill_null(0.0)).product() - 1.0) * 100.0).alias(
                "return_pct"
            ),
            (pl.col("contribution") - pl.col("own_cost") - pl.col("_closing")).sum().alias("pnl"),
        )
        .with_columns(
            pl.lit(strategy).alias("strategy"),
            pl.when(pl.col("_side") > 0)
            .then(pl.lit("LONG"))
            .otherwise(pl.lit("SHORT"))
            .alias("side"),
        )
        .sort(TICKER, "entry_date")
        .select(TRADE_COLUMNS)
    )


def run_backtest(
    signals: pl.DataFrame,
    prices: pl.DataFrame,
    config: BacktestConfig | None = None,
    *,
    strategies: Sequence[str] | None = None,
) -> BacktestResult:
    """Backtest each strategy column of ``signals`` on ``prices`` (see the module notes).

    Parameters
    ----------
    signals : pl.DataFrame
        ``ticker``, ``date`` and one signed target-size column per strategy.
    prices : pl.DataFrame
        ``ticker``, ``date``, ``close`` covering the signals' rows (and the days after them).
    config : BacktestConfig, optional
    strategies : sequence of str, optional
        Columns of ``signals`` to test; default every column but ticker and date.

    Returns
    -------
    BacktestResult
        Daily rows only from the first signal date on; days before any position is held have
        zero returns.

    Raises
    ------
    SchemaError
        A missing column, or a signal row with no price.
    """
    cfg = config or BacktestConfig()
    names = tuple(strategies or [c for c in signals.columns if c not in (TICKER, DATE)])
    require_columns(signals, [TICKER, DATE, *names], needed_by="run_backtest", hint="")
    price_columns = ["close", *(["open"] if cfg.execution == "next_open" else [])]
    require_columns(prices, [TICKER, DATE, *price_columns], needed_by="run_backtest", hint="")
    if not names:
        msg = "run_backtest: `signals` has no strategy column besides ticker and date"
        raise SchemaError(msg)
    if signals.height == 0:
        msg = "run_backtest: `signals` has no rows"
        raise SchemaError(msg)
    start = signals[DATE].min()
    panel = collect(
        prices.lazy()
        .select(TICKER, DATE, *(pl.col(c).cast(pl.Float64) for c in price_columns))
        .filter(pl.col(DATE) >= start)
        .join(signals.lazy().select(TICKER, DATE, *names), on=[TICKER, DATE], how="left")
        .sort(TICKER, DATE)
    )
    check_prices(panel, price_columns)
    unpriced = signals.join(panel.select(TICKER, DATE), on=[TICKER, DATE], how="anti").height
    if unpriced:
        msg = f"run_backtest: {unpriced} signal row(s) have no price row in `prices`"
        raise SchemaError(msg)
    daily, trades = [], []
    for name in names:
        rows = _rows(panel, name, cfg)
        daily.append(_daily(rows, name, cfg))
        trades.append(_trades(rows, name))
    return BacktestResult(
        daily=pl.concat(daily), trades=pl.concat(trades), strategies=names, config=cfg
    )


def check_prices(
    panel: pl.DataFrame, columns: Sequence[str], *, needed_by: str = "run_backtest"
) -> None:
    """No return can be computed from a missing, NaN, infinite or non-positive price: refuse
    the frame instead of letting one bad price turn the whole equity curve into NaN."""
    for name in columns:
        price = pl.col(name)
        bad = panel.filter(price.is_null() | ~price.is_finite() | (price <= 0.0))
        if bad.height:
            first = bad.row(0, named=True)
            msg = (
                f"{needed_by}: {bad.height} price row(s) have a missing, non-finite or "
                f"non-positive {name} (first: {first[TICKER]} {first[DATE]}: {first[name]}); "
                "validate the prices (m002.data.check_silver) first"
            )
            raise SchemaError(msg)


def performance_metrics(
    daily: pl.DataFrame, trades: pl.DataFrame, *, periods_per_year: int = TRADING_DAYS
) -> dict[str, Any]:
    """Return and risk figures of one strategy's daily rows and trades.

    Returns are compounded daily and annualised with ``periods_per_year`` (252) trading days;
    Sharpe and Sortino use a zero risk-free rate. ``turnover`` is the mean daily turnover times
    ``periods_per_year`` (both sides); ``exposure`` the mean gross exposure;
    ``max_drawdown_days`` the longest stretch, in trading days, spent below a previous peak;
    ``hit_rate`` the share of trades with a positive pnl.
    """
    r = daily["net_return"].to_numpy()
    n = r.size
    out: dict[str, Any] = {"n_days": n, "n_trades": trades.height}
    if n == 0:
        return out
    total = float(daily["equity"][-1]) - 1.0
    years = n / periods_per_year
    cagr = (1.0 + total) ** (1.0 / years) - 1.0 if total > -1.0 else -1.0
    sharpe, sortino = return_ratios(r, periods_per_year=periods_per_year)
    sd = float(r.std(ddof=1)) if n > 1 else math.nan
    drawdown = daily["drawdown"].to_numpy()
    mdd = float(drawdown.min())
    underwater = _longest_run(drawdown < 0.0)
    out.update(
        total_return=total,
        cagr=cagr,
        ann_vol=sd * math.sqrt(periods_per_year),
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown=mdd,
        max_drawdown_days=underwater,
        calmar=cagr / -mdd if mdd < 0 else None,
        hit_rate=float((trades["pnl"] > 0).mean()) if trades.height else None,  # type: ignore[arg-type]
        avg_holding_days=float(trades["holding_days"].mean()) if trades.height else None,  # type: ignore[arg-type]
        turnover=float(daily["turnover"].mean()) * periods_per_year,  # type: ignore[arg-type]
        exposure=float(daily["gross_exposure"].mean()),  # type: ignore[arg-type]
        net_exposure=float(daily["net_exposure"].mean()),  # type: ignore[arg-type]
        cost_drag=float(daily["cost"].sum()) / years,
    )
    return out


def return_ratios(
    r: Any, *, periods_per_year: int = TRADING_DAYS
) -> tuple[float | None, float | None]:
    """Annualised Sharpe and Sortino ratios of period returns ``r`` (a numpy array; zero
    risk-free rate): the mean over the standard deviation (``ddof=1``), and over the root
    mean square of the losses. None where the scale is 0 or undefined."""
    sd = float(r.std(ddof=1)) if r.size > 1 else math.nan
    downside = math.sqrt(float((r.clip(max=0.0) ** 2).mean())) if r.size else math.nan
    mean = float(r.mean()) if r.size else math.nan
    return _ratio(mean, sd, periods_per_year), _ratio(mean, downside, periods_per_year)


def _ratio(mean: float, scale: float, periods: int) -> float | None:
    if not math.isfinite(scale) or scale <= 0.0:
        return None
    return mean / scale * math.sqrt(periods)


def _longest_run(mask: Any) -> int:
    best = current = 0
    for flag in mask:
        current = current + 1 if flag else 0
        best = max(best, current)
    return best
