"""`build_portfolio`: the policy frame of all tickers -> a target weight per row.

The layer decides, on each date t from the rows up to t, the weight each name should hold
from t's close on (the backtest earns ``close[t+1] / close[t] - 1`` on it and charges costs
on every change). Its state from one date to the next is the book it holds, with two clocks
per name: the dates since its position opened and since it last closed.

Order of operations on a date
-----------------------------
1. **Who is in the grid today.** A name with a row and a finite score takes part. A name
   without a row that date, or whose score is null, NaN or infinite, holds 0 and forgets
   its memory (as if never held: no cooldown, no holding clock); it cannot carry a weight
   without a row, and a row without a score gives nothing to decide on.
2. **Raw book** (sizing): ``"spec"``: ``position_size`` (NaN counts as 0; long-only keeps
   the longs). ``"rank"``: ``q - 0.5`` on the names the rank rule holds, with ``q`` the
   cross-sectional rank quantile of the score (`quantile_expr`) and the hysteresis of
   `rank_book`. ``"topk"``: +1 / -1 on the names a TopkDropout step holds (`topk_book`).
   Neither book holds a name whose score is exactly 0, the symmetric policy's "no edge on
   either side", and top-k does not buy one: otherwise a date where most scores are 0 fills
   the book by ticker order, the ranking's tie-break, an alphabetical basket and not a view.
   Both books stay relative otherwise: a two-sided book shorts the lowest scores whatever
   their sign (the spec's score is negative almost everywhere; its order is what it says).
   Memory enters here: hysteresis and top-k read the held book; a name that closed less
   than ``cooldown_days`` ago cannot enter, and from ``cooldown_days >= 1`` on a name held on
   one side cannot enter the other (the reversal becomes a close, then the wait); with a
   beta or volatility rule a name without a full window of returns has no place in it.
3. **Max positions**: the raw book keeps its ``max_positions`` strongest names (``|score|``
   for spec sizing, ``|q - 0.5|`` otherwise; ties by ticker order).
4. **Side totals** (`side_totals`): the gross (``gross_target``), and how it splits
   between longs and shorts: the beta rule's split, else the natural split clipped into the
   net band (``net_min``/``net_max``; ``[0, 0]`` for a two-sided rank or top-k book).
5. **Target book** (`target_book`): each side at its total, the per-name cap met by
   water-filling (so the caps still hold after any scaling up), scaled to ``vol_target``
   by the ex-ante volatility of the capped book and then rebuilt at the scaled totals,
   under ``max_leverage``. Scaling comes before the caps are met because a cap applied
   first would be broken by scaling up; the sides' ratio survives a cap that cannot be met.
6. **Beta** (`remove_beta`): with ``beta_neutral`` the side with the larger beta exposure
   is shrunk until the book's beta to the equal-weight universe is 0. Shrinking keeps every
   cap, which is why it comes after them; step 4 already split the sides by beta, so this
   only removes what the caps moved.
7. **Trades** (`trade`): closes in full, trade rate and no-trade band, minimum hold, edge
   over cost, free places. These act on the change from the held book, so they come after
   the target is known; each keeps a per-name cap met by the held and target books.
8. **Held-book limits** (`hold_limits`): per-name cap, ``max_leverage``, net band, each by
   shrinking. Step 7 can keep a position the target dropped (minimum hold, edge) and break
   a book-level limit; shrinking restores it without breaking another, and the net band
   comes last because a shrink of the whole book can move the net out of a band that does
   not hold 0. A two-sided rank or top-k book is dollar-neutral here by construction.

The target is beta-neutral and at its volatility target (up to what a cap moved); the held
book approaches it at ``trade_rate`` and through the rules of step 7, so it is exactly so only
where nothing held it back. With a partial trade rate the held book's gross trails the target's
(about 0.85 of it at the default 0.25 on the S&P sample).

Causality and reproducibility
-----------------------------
Weights on date t read rows up to t: the quantiles are per date, the returns trailing
(`m002.portfolio._returns`), and the loop runs forward over dates. Every sum over names runs
over the names of that date only, in ticker order, so a ticker absent from a shorter history
cannot move a rounding. Two runs that start at different dates have the same state from the
date they hold the same book with the same clocks, and the same weights from then on. A name
couples when both runs are flat in it (or both trade it at rate 1) on one date, and a partial
trade's difference shrinks by ``1 - trade_rate`` a date; step 8's shrink ties the names of a
side together, so a book couples when all its names have. `PortfolioConfig.memory_dates`
states how much history a run needs, and which rules can keep two runs apart.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import polars as pl

from m002._polars import collect
from m002._schema import require_columns
from m002.exceptions import SchemaError
from m002.portfolio._config import CLOSE, POSITION_SIZE, TARGET_WEIGHT, PortfolioConfig, Sizing
from m002.portfolio._panel import Panel, quantile_expr, read_panel
from m002.portfolio._returns import (
    book_volatility,
    daily_returns,
    full_window,
    rolling_beta,
    universe_return,
)
from m002.portfolio._select import keep_strongest, rank_book, topk_book
from m002.portfolio._sizing import remove_beta, side_totals, target_book
from m002.portfolio._trade import hold_limits, trade

__all__ = ["build_portfolio"]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

_FORGOTTEN = 2**40
"""Dates since the last close of a name that never closed: no cooldown applies."""


def build_portfolio(
    frame: pl.DataFrame | pl.LazyFrame, config: PortfolioConfig | None = None
) -> pl.DataFrame:
    """Add ``target_weight``: the weight each name holds from each date's close on.

    Parameters
    ----------
    frame : pl.DataFrame or pl.LazyFrame
        The policy frame of every ticker, one row per (ticker, date), in any order, with the
        columns of `PortfolioConfig.required_columns`: ticker, date, the score, and as the
        rules need ``position_size``, ``close`` and the edge column. All tickers must be in
        the one frame: weights are decided across names.
    config : PortfolioConfig, optional
        ``PortfolioConfig()`` when omitted.

    Returns
    -------
    pl.DataFrame
        The input rows in their input order, every column kept, plus ``target_weight``
        (Float64; > 0 long, < 0 short, 0.0 where no position; never null, NaN or inf). A
        ``target_weight`` already in the frame is replaced. The module documentation gives
        the rules and their order.

    Raises
    ------
    SchemaError
        If a needed column is missing, a ticker or date is null, or a (ticker, date) pair
        occurs twice.

    Examples
    --------
    >>> import datetime as dt
    >>> frame = pl.DataFrame({
    ...     "ticker": ["A", "B", "C", "D"], "date": [dt.date(2024, 1, 2)] * 4,
    ...     "pred_expected_ret_pct": [0.03, 0.01, -0.01, -0.02],
    ... })
    >>> config = PortfolioConfig(long_only=False, trade_rate=1.0, max_weight=None)
    >>> build_portfolio(frame, config)["target_weight"].round(6).to_list()
    [0.375, 0.125, -0.125, -0.375]
    """
    config = PortfolioConfig() if config is None else config
    require_columns(
        frame,
        config.required_columns(),
        needed_by="the portfolio layer",
        hint="apply the policy first (m002.policy.apply_policy) on a frame of every ticker",
    )
    rows = collect(frame.lazy()) if isinstance(frame, pl.LazyFrame) else frame
    if rows.height == 0:
        return rows.with_columns(pl.Series(TARGET_WEIGHT, [], dtype=pl.Float64))
    panel = read_panel(rows)
    weights = _walk(panel, _inputs(rows, panel, config), config)
    return rows.with_columns(pl.Series(TARGET_WEIGHT, panel.rows(weights), dtype=pl.Float64))


def _inputs(rows: pl.DataFrame, panel: Panel, config: PortfolioConfig) -> dict[str, Floats]:
    """The grids the walk reads: score, its quantile, and what the rules need."""
    for name in config.required_columns()[2:]:
        dtype = rows.schema[name]
        if not dtype.is_numeric():
            msg = f"the portfolio layer reads `{name}` as numbers, got a {dtype} column"
            raise SchemaError(msg)
    exprs = {
        "score": pl.col(config.score_column).cast(pl.Float64),
        "quantile": quantile_expr(config.score_column),
    }
    if config.sizing == Sizing.SPEC:
        exprs["size"] = pl.col(POSITION_SIZE).cast(pl.Float64)
    if config.return_window():
        exprs["close"] = pl.col(CLOSE).cast(pl.Float64)
    if config.edge_over_cost:
        exprs["edge"] = pl.col(config.edge_column).cast(pl.Float64)
    values = rows.select(**exprs)
    return {
        name: panel.grid(values[name].fill_null(np.nan).to_numpy().astype(np.float64))
        for name in values.columns
    }


def _walk(panel: Panel, grids: dict[str, Floats], config: PortfolioConfig) -> Floats:
    """The date loop: one vectorised step over the names of each date."""
    n_names = panel.n_tickers
    active = panel.present() & np.isfinite(grids["score"])
    window = config.return_window()
    beta: Floats | None = None
    returns: Floats | None = None
    if window:
        daily = daily_returns(grids["close"])
        eligible = active & full_window(daily, window)
        if config.beta_neutral:
            beta = rolling_beta(daily, universe_return(daily), config.beta_window)
        returns = np.where(np.isfinite(daily), daily, 0.0)
    else:
        eligible = active
    weight = np.zeros(n_names)
    age = np.zeros(n_names, dtype=np.int64)
    since_close = np.full(n_names, _FORGOTTEN, dtype=np.int64)
    out = np.zeros((panel.n_dates, n_names))
    for date in range(panel.n_dates):
        names = np.flatnonzero(active[date])
        volatility = None
        if returns is not None and config.vol_target is not None:
            first = max(date - config.vol_window + 1, 0)
            volatility = _volatility(returns[first : date + 1], names)
        book, clocks = _step(
            date,
            names,
            (weight[names], age[names] + 1, since_close[names] + 1),
            grids,
            eligible[date, names],
            None if beta is None else beta[date, names],
            volatility,
            config,
        )
        weight = np.zeros(n_names)
        age = np.zeros(n_names, dtype=np.int64)
        since_close = np.full(n_names, _FORGOTTEN, dtype=np.int64)
        weight[names], (age[names], since_close[names]) = book, clocks
        out[date] = weight
    return out


def _volatility(window: Floats, names: npt.NDArray[np.intp]) -> Callable[[Floats], float]:
    def of(book: Floats) -> float:
        held = book != 0.0
        return book_volatility(window[:, names[held]], book[held])

    return of


def _step(
    date: int,
    names: npt.NDArray[np.intp],
    memory: tuple[Floats, npt.NDArray[np.int64], npt.NDArray[np.int64]],
    grids: dict[str, Floats],
    eligible: Bools,
    beta: Floats | None,
    volatility: Callable[[Floats], float] | None,
    config: PortfolioConfig,
) -> tuple[Floats, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]:
    """One date: the names' new weights and clocks (dates since open, since close)."""
    held, age, since_close = memory
    held_side = np.sign(held)
    cooling = (held_side == 0.0) & (since_close < config.cooldown_days)
    block_long, block_short = cooling.copy(), cooling.copy()
    if config.cooldown_days:
        block_long |= held_side < 0.0
        block_short |= held_side > 0.0
    score = grids["score"][date, names]
    quantile = grids["quantile"][date, names]
    strength = np.abs(quantile - 0.5)
    has_view = score != 0.0  # a score of exactly 0 is no view: held by no rank or top-k book
    if config.sizing == Sizing.SPEC:
        raw = np.nan_to_num(grids["size"][date, names], nan=0.0, posinf=0.0, neginf=0.0)
        raw = np.maximum(raw, 0.0) if config.long_only else raw
        strength = np.abs(score)
    elif config.sizing == Sizing.RANK:
        hysteresis = None
        if config.enter_quantile is not None and config.exit_quantile is not None:
            hysteresis = (config.enter_quantile, config.exit_quantile)
        raw = rank_book(quantile, held, hysteresis=hysteresis, long_only=config.long_only)
    else:
        raw = topk_book(
            score,
            np.where(eligible, held, 0.0),
            topk=config.topk,
            n_drop=config.n_drop,
            can_sell=age >= config.min_hold_days,
            can_buy_long=eligible & ~block_long & has_view,
            can_buy_short=eligible & ~block_short & has_view,
            long_only=config.long_only,
        )
    if config.sizing != Sizing.SPEC:
        raw = np.where(has_view, raw, 0.0)
    raw = np.where(eligible & ~(((raw > 0.0) & block_long) | ((raw < 0.0) & block_short)), raw, 0.0)
    if config.max_positions is not None:
        raw = keep_strongest(raw, strength, config.max_positions)
    target = target_book(raw, side_totals(raw, beta, config), config, volatility)
    if beta is not None:
        target = remove_beta(target, beta)
    edge = grids["edge"][date, names] if config.edge_over_cost else None
    book = trade(held, target, age=age, edge=edge, strength=strength, config=config)
    book = hold_limits(book, config)
    new_side = np.sign(book)
    opened = (new_side != 0.0) & (new_side != held_side)
    closed = (held_side != 0.0) & (new_side != held_side)
    return book, (np.where(opened, 0, age), np.where(closed, 0, since_close))
