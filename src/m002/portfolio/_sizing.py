"""From the raw signed book of a date to its target weights: side totals, net band, beta,
volatility target, leverage cap and the per-name cap.

Each side of the book (longs, shorts) keeps the proportions of the raw book and gets a total;
all the risk rules are rules on the two totals, except the per-name cap, which is met by
water-filling: the names a cap binds sit at it and the rest of the side's total is spread over
the others in proportion, so that a side still reaches its total when the cap binds. Where a
side holds too few names to reach its total under the cap, both totals shrink by the same
factor (the ratio of the sides, which the net and beta rules chose, is kept).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from m002.portfolio._config import PortfolioConfig, Sizing

__all__ = ["net_band", "remove_beta", "shrink_to_band", "side_totals", "target_book"]

Floats = npt.NDArray[np.float64]


def net_band(config: PortfolioConfig) -> tuple[float | None, float | None]:
    """The band the book's net keeps: ``(net_min, net_max)``, or ``(0, 0)`` where the book is
    dollar-neutral by construction (`PortfolioConfig.two_sided_neutral`)."""
    if config.two_sided_neutral:
        return 0.0, 0.0
    return config.net_min, config.net_max


def side_totals(raw: Floats, beta: Floats | None, config: PortfolioConfig) -> tuple[float, float]:
    """Totals ``(long, short)`` of the target's sides (both >= 0; the net is their difference).

    The gross ``G`` is ``gross_target``, or without it 1 for rank and top-k books and the raw
    book's own gross for spec sizing. The split:

    - beta rule: ``long = G * b_s / (b_l + b_s)``, ``short = G * b_l / (b_l + b_s)``, with
      ``b_l``, ``b_s`` the raw-weighted mean betas of each side: the long side's beta
      exposure then equals the short side's. Flat where a side is empty or its mean beta is
      not positive (no split of positive totals removes the beta);
    - otherwise the natural split: ``G / 2`` each for a two-sided rank or top-k book, ``G``
      long for a long-only one, the raw proportions for spec sizing. Where both sides hold
      names the net is then clipped into the band (`net_band`) at the same gross; a side with
      no names has total 0, and the other side shrinks as far as the band needs.
    """
    longs, shorts = raw > 0.0, raw < 0.0
    raw_long = float(raw[longs].sum())
    raw_short = float(-raw[shorts].sum())
    if config.sizing == Sizing.SPEC:
        gross = raw_long + raw_short if config.gross_target is None else config.gross_target
    else:
        gross = 1.0 if config.gross_target is None else config.gross_target
    if beta is not None:
        if not (longs.any() and shorts.any()):
            return 0.0, 0.0
        b_long = float((raw[longs] * beta[longs]).sum()) / raw_long
        b_short = float((-raw[shorts] * beta[shorts]).sum()) / raw_short
        if b_long <= 0.0 or b_short <= 0.0:
            return 0.0, 0.0
        return gross * b_short / (b_long + b_short), gross * b_long / (b_long + b_short)
    if config.sizing == Sizing.SPEC:
        if config.gross_target is None:
            long, short = raw_long, raw_short  # no scaling: the raw totals, exactly
        elif raw_long + raw_short > 0.0:
            long = gross * raw_long / (raw_long + raw_short)
            short = gross * raw_short / (raw_long + raw_short)
        else:
            long = short = 0.0
    elif config.long_only:
        long, short = gross, 0.0
    else:
        long = short = gross / 2.0
    low, high = net_band(config)
    if longs.any() and shorts.any():
        if low is None and high is None:
            return long, short
        total, net = long + short, long - short
        net = net if low is None else max(net, low)
        net = net if high is None else min(net, high)
        net = min(max(net, -total), total)
        return (total + net) / 2.0, (total - net) / 2.0
    return shrink_to_band(long if longs.any() else 0.0, short if shorts.any() else 0.0, low, high)


def shrink_to_band(
    long: float, short: float, low: float | None, high: float | None
) -> tuple[float, float]:
    """Side totals moved into the band ``[low, high]`` for their net by shrinking the side
    in excess (never growing one): as far as shrinking can go, which reaches the band
    whenever it holds 0, and otherwise stops with the side in excess at 0."""
    if high is not None and long - short > high:
        long = max(short + high, 0.0)
    elif low is not None and long - short < low:
        short = max(long - low, 0.0)
    return long, short


def target_book(
    raw: Floats,
    totals: tuple[float, float],
    config: PortfolioConfig,
    volatility: Callable[[Floats], float] | None = None,
) -> Floats:
    """The target weights: ``raw``'s sides at ``totals``, scaled to the volatility target and
    under the leverage cap, every name within ``max_weight``.

    With ``vol_target`` (and ``volatility``, the annualised ex-ante volatility of a book) the
    book is first built at ``totals`` (caps included), and the totals are scaled by
    ``vol_target / volatility(book)``; the book is then built again at the scaled totals, so
    the caps hold after scaling up (where a cap binds only after scaling, the ex-ante
    volatility differs from the target by what the cap moved). A book with volatility 0 is
    scaled as far as the leverage cap allows. ``max_leverage`` caps ``long + short``. A spec
    book without ``gross_target`` is not rescaled to reach its totals when the cap binds: a
    name is clipped to ``max_weight`` and the side's total falls.
    """
    long, short = totals
    scale = 1.0
    book = _at_totals(raw, long, short, config)
    if config.vol_target is not None and volatility is not None and book.any():
        ex_ante = volatility(book)
        scale = config.vol_target / ex_ante if ex_ante > 0.0 else np.inf
    if config.max_leverage is not None and (long + short) * scale > config.max_leverage:
        scale = config.max_leverage / (long + short)
    if scale == 1.0:
        return book
    return _at_totals(raw, long * scale, short * scale, config)


def _at_totals(raw: Floats, long: float, short: float, config: PortfolioConfig) -> Floats:
    longs, shorts = raw > 0.0, raw < 0.0
    cap = config.max_weight
    out = np.zeros_like(raw)
    if config.sizing == Sizing.SPEC and config.gross_target is None:
        # no gross to reach: scale each side to its total, then clip
        for side, total in ((longs, long), (shorts, -short)):
            if side.any():
                out[side] = raw[side] * (total / raw[side].sum())
        return out if cap is None else np.clip(out, -cap, cap)
    shrink = 1.0
    if cap is not None:
        for side, total in ((longs, long), (shorts, short)):
            room = cap * int(side.sum())
            if total > room:
                shrink = min(shrink, room / total)
    if longs.any() and long > 0.0:
        out[longs] = _water_fill(raw[longs], long * shrink, cap)
    if shorts.any() and short > 0.0:
        out[shorts] = -_water_fill(-raw[shorts], short * shrink, cap)
    return out


def _water_fill(values: Floats, total: float, cap: float | None) -> Floats:
    """Weights ``min(cap, lam * values)`` summing to ``total`` (``values`` > 0,
    ``total <= cap * len(values)``)."""
    scale = total / values.sum()
    out: Floats
    if cap is None or values.max() * scale <= cap:
        out = values * scale
        return out
    if total >= cap * values.size:
        out = np.full_like(values, cap)
        return out
    order = np.argsort(-values, kind="stable")
    ranked = values[order]
    rest = np.cumsum(ranked[::-1])[::-1]  # rest[k]: sum of ranked[k:]
    lam = (total - np.arange(ranked.size) * cap) / rest
    # the names above the first one that fits under the cap at its lam are the capped ones
    first = int(np.argmax(lam * ranked <= cap))
    out = np.minimum(values * lam[first], cap)
    return out


def remove_beta(book: Floats, beta: Floats) -> Floats:
    """``book`` with the side whose beta exposure is larger shrunk until both are equal: the
    book's beta ``sum(w * beta)`` is then 0 (to rounding), and no weight grew. Flat where a
    side's exposure is not positive."""
    longs, shorts = book > 0.0, book < 0.0
    exposure_long = float((book[longs] * beta[longs]).sum())
    exposure_short = float((-book[shorts] * beta[shorts]).sum())
    if exposure_long <= 0.0 or exposure_short <= 0.0:
        return np.zeros_like(book)
    out = book.copy()
    if exposure_long > exposure_short:
        out[longs] *= exposure_short / exposure_long
    elif exposure_short > exposure_long:
        out[shorts] *= exposure_long / exposure_short
    return out
