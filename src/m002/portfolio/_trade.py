"""From the book held after the previous date to today's, given today's target: the rules
against churn (trade rate, no-trade band, minimum hold, edge over cost, free places) and the
limits the held book keeps whatever was traded.

Each function works on one date's vectors over the names with a score that date, in ticker
order; ``held`` is the signed book held after the previous date.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from m002.portfolio._config import PortfolioConfig
from m002.portfolio._sizing import net_band, shrink_to_band

__all__ = ["hold_limits", "trade"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]


def trade(
    held: Floats,
    target: Floats,
    *,
    age: Ints,
    edge: Floats | None,
    strength: Floats,
    config: PortfolioConfig,
) -> Floats:
    """The book after today's trades, rule by rule:

    1. Closes and reversals: a name whose target is 0 is closed in full; one whose target is
       on the other side is closed in full and opened from 0 (a geometric approach to 0 never
       gets there, and would leave dust positions that cost a trade a date).
    2. Trade rate and band, for an opening or a resize from ``w`` (``w = 0`` for an opening)
       to the target ``T``: where ``|T - w| < no_trade_band`` nothing is traded; otherwise
       the weight moves to ``(1 - trade_rate) * w + trade_rate * T``, or all the way to
       ``T`` where that leaves it closer than ``no_trade_band`` to ``T``.
    3. Minimum hold: a position opened less than ``min_hold_days`` dates ago (``age``) that
       would close or reverse keeps its weight.
    4. Edge over cost (``edge_over_cost``): a change ``d`` of weight is made only where
       ``d * e > c * |d|``, with ``e = edge * edge_scale`` (the expected return as a
       fraction of price) and ``c = cost_bps / 1e4``: a buy needs ``e > c``, a sell
       ``e < -c``; otherwise the weight stays. Where the edge is missing (null, NaN, inf)
       only a change that shrinks the position without reversing it is made.
    5. Free places (``max_positions``): the names held before that still hold a weight
       keep their places; new positions open into the places left, strongest first
       (``strength``; ties by ticker order), and the others stay flat.
    """
    rate, band = config.trade_rate, config.no_trade_band
    held_side, target_side = np.sign(held), np.sign(target)
    same = (held_side != 0.0) & (target_side == held_side)
    start = np.where(same, held, 0.0)
    moved = (1.0 - rate) * start + rate * target
    moved = np.where(np.abs(target - moved) < band, target, moved)
    book = np.where(np.abs(target - start) < band, start, moved)
    book = np.where(target_side == 0.0, 0.0, book)
    if config.min_hold_days:
        locked = (held_side != 0.0) & (age < config.min_hold_days)
        book = np.where(locked & (np.sign(book) != held_side), held, book)
    if edge is not None:
        book = _edge_over_cost(held, book, edge, config)
    if config.max_positions is not None:
        book = _into_free_places(held, book, strength, config.max_positions)
    return book


def _edge_over_cost(held: Floats, book: Floats, edge: Floats, config: PortfolioConfig) -> Floats:
    change = book - held
    expected = edge * config.edge_scale
    known = np.isfinite(expected)
    with np.errstate(invalid="ignore"):
        worth = change * expected > config.cost_bps / 1e4 * np.abs(change)
    shrinks = (np.abs(book) <= np.abs(held)) & (np.sign(book) * np.sign(held) >= 0.0)
    allowed = np.where(known, worth, shrinks)
    return np.where((change != 0.0) & ~allowed, held, book)


def _into_free_places(held: Floats, book: Floats, strength: Floats, limit: int) -> Floats:
    staying = (held != 0.0) & (book != 0.0)
    opening = np.flatnonzero((held == 0.0) & (book != 0.0))
    free = limit - int(staying.sum())
    if opening.size <= free:
        return book
    ranked = opening[np.argsort(-strength[opening], kind="stable")]
    out = book.copy()
    out[ranked[max(free, 0) :]] = 0.0
    return out


def hold_limits(book: Floats, config: PortfolioConfig) -> Floats:
    """The limits of the held book, each by shrinking only (no weight grows, opens or changes
    side, so a limit met stays met through the next): every weight clipped to
    ``max_weight``; the book scaled down to gross ``max_leverage``; the side in excess shrunk
    until the net is in its band (`net_band`; `shrink_to_band`). Negative zeros become 0."""
    out = book
    if config.max_weight is not None:
        out = np.clip(out, -config.max_weight, config.max_weight)
    gross = float(np.abs(out).sum())
    if config.max_leverage is not None and gross > config.max_leverage:
        out = out * (config.max_leverage / gross)
    low, high = net_band(config)
    if low is not None or high is not None:
        longs, shorts = out > 0.0, out < 0.0
        long, short = float(out[longs].sum()), float(-out[shorts].sum())
        new_long, new_short = shrink_to_band(long, short, low, high)
        out = out.copy()
        if new_long < long:
            out[longs] *= new_long / long
        if new_short < short:
            out[shorts] *= new_short / short
    return out + 0.0
