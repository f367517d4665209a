"""Which names the target book holds on a date, and on which side: the raw signed book.

Each function works on one date's vectors over the names that have a score that date, in
ticker order, with the book held after the previous date (``held``: its signed weights) as
the memory. The raw book's magnitudes only say how the names of one side compare; the side
totals are set later (`m002.portfolio._sizing`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["keep_strongest", "rank_book", "topk_book"]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


def rank_book(
    quantile: Floats,
    held: Floats,
    *,
    hysteresis: tuple[float, float] | None,
    long_only: bool,
) -> Floats:
    """The rank book's raw weights: ``quantile - 0.5`` on the names it holds, 0 elsewhere,
    except the long-only tilt.

    Without ``hysteresis`` every name above the median is long and every name below it short
    (the median itself is flat): dollar-neutral. With ``(enter, exit)``: a name not held long
    enters long at ``quantile >= enter`` and one held long stays while ``quantile >= exit``; a
    name not held short enters short at ``quantile <= 1 - enter`` and one held short stays
    while ``quantile <= 1 - exit``. ``long_only`` drops the short side; without
    ``hysteresis`` it is a tilt instead: every name is held with weight ``quantile``, the
    dollar-neutral book plus an equal-weight book of half its scale, so the book stays fully
    invested in the universe and leans toward the names ranked high. (Holding only the
    upper half made every name that crossed the median a full close and a new opening: with
    a trade rate below 1 the book then held about half its gross target, 0.3 to 0.5 net on
    the S&P sample, and traded three times as much.) A NaN quantile (fewer than two scored
    names) holds nothing.
    """
    if long_only and hysteresis is None:
        return np.where(np.isnan(quantile), 0.0, quantile)
    centred = quantile - 0.5
    if hysteresis is None:
        long_in = centred > 0.0
        short_in = centred < 0.0
    else:
        enter, exit_ = hysteresis
        long_in = np.where(held > 0.0, quantile >= exit_, quantile >= enter)
        short_in = np.where(held < 0.0, quantile <= 1.0 - exit_, quantile <= 1.0 - enter)
        long_in &= centred > 0.0
        short_in &= centred < 0.0
    if long_only:
        short_in = np.zeros_like(short_in)
    return np.where(long_in | short_in, centred, 0.0)


def topk_book(
    score: Floats,
    held: Floats,
    *,
    topk: int,
    n_drop: int,
    can_sell: Bools,
    can_buy_long: Bools,
    can_buy_short: Bools,
    long_only: bool,
) -> Floats:
    """+1 on the names held long, -1 on those held short, after one TopkDropout step per side.

    Long side, with ``H`` the names held long and ``h = |H|``:

    1. ``C``: the ``n_drop + topk - h`` best-scoring names not in ``H`` that may be bought
       (none when that count is <= 0);
    2. the names of ``H`` among the ``n_drop`` lowest scores of ``H`` and ``C`` together are
       sold, except those ``can_sell`` forbids (held too briefly);
    3. the ``sold + topk - h`` best names of ``C`` are bought.

    So at most ``n_drop`` names are replaced, the book returns to ``topk`` names when it holds
    fewer, and every name bought scores above every name sold (the bought ones are the
    candidates outside the lowest ``n_drop``). A name that may not be sold still counts
    among the lowest, as in Qlib; unlike Qlib, nothing is bought in its place, so the book
    never holds more than ``topk`` names through this rule. The short side is the same on
    ``-score`` among the names not held long after the long step; ``long_only`` has none.
    Ties in score rank by ticker order (the earlier ticker ranks higher).
    """
    order = np.argsort(-score, kind="stable")
    held_long = held > 0.0
    new_long = _dropout_step(order, held_long, can_sell, can_buy_long, topk, n_drop)
    book = new_long.astype(np.float64)
    if not long_only:
        # lowest score first; a stable sort keeps equal scores in ticker order
        reverse = np.argsort(score, kind="stable")
        # a name bought long today leaves the short side whatever n_drop says
        held_short = (held < 0.0) & ~new_long
        can_short = can_buy_short & ~new_long
        new_short = _dropout_step(reverse, held_short, can_sell, can_short, topk, n_drop)
        book -= new_short
    return book


def _dropout_step(
    order: npt.NDArray[np.intp],
    held: Bools,
    can_sell: Bools,
    can_buy: Bools,
    topk: int,
    n_drop: int,
) -> Bools:
    """One TopkDropout step over the names ranked best first by ``order``."""
    h = int(held.sum())
    ranked_candidates = order[(can_buy & ~held)[order]]
    candidates = ranked_candidates[: max(n_drop + topk - h, 0)]
    combined = held.copy()
    combined[candidates] = True
    ranked_combined = order[combined[order]]
    lowest = np.zeros(held.shape, dtype=bool)
    if n_drop:
        lowest[ranked_combined[-n_drop:]] = True
    sold = lowest & held & can_sell
    bought = candidates[: max(int(sold.sum()) + topk - h, 0)]
    out = held & ~sold
    out[bought] = True
    return out


def keep_strongest(book: Floats, strength: Floats, limit: int) -> Floats:
    """``book`` with only its ``limit`` names of largest ``strength`` left non-zero (ties by
    ticker order)."""
    held = np.flatnonzero(book)
    if held.size <= limit:
        return book
    ranked = held[np.argsort(-strength[held], kind="stable")]
    out = np.zeros_like(book)
    kept = ranked[:limit]
    out[kept] = book[kept]
    return out
