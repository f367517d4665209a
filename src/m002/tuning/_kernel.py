"""One compiled pass: policy -> portfolio -> cost-aware backtest over a (dates x tickers) grid.

`simulate` is the tuner's hot path. It computes, for one or several parameter sets, exactly
what `m002.policy.apply_policy`, `m002.portfolio.build_portfolio` and
`m002.evaluation.run_backtest` compute, without leaving compiled code: the policy on every
cell, the portfolio's date loop, and each date's returns, turnover and costs. The rules are
not restated here; each block names the function whose rule it follows, and a test holds
the two paths equal to 1e-12 on every supported rule.

Supported portfolio rules: the three sizings, long-only, hysteresis, top-k and dropout,
cooldown, minimum hold, trade rate, no-trade band, per-name cap, gross target, leverage cap
and net band. Not here (`m002.tuning.check_supported` refuses them): maximum positions, edge
over cost, beta neutrality, volatility target.

Parameters travel as one float row per set (`PARAMS` gives the columns; NaN is "off" for an
optional rule); ``schedule[d]`` says which row decides date ``d``, so a nested tuning that
switches parameters at each test block is one pass, with the switch traded and charged as a
real one would be.
"""

from __future__ import annotations

from typing import Final

import numba
import numpy as np

__all__ = ["PARAMS", "simulate"]

PARAMS: Final = (
    # policy (m002.policy.PolicyConfig)
    "risk_aversion",
    "k",
    "size_max",
    "theta_long",
    "theta_short",
    "peak_prob_threshold",
    "overheat_multiplier",
    "late_breakdown_multiplier",
    "allow_short",
    "score_symmetric",
    "gate_open",
    "multiplier_any_sign",
    # portfolio (m002.portfolio.PortfolioConfig)
    "sizing",
    "long_only",
    "enter_quantile",
    "exit_quantile",
    "topk",
    "n_drop",
    "cooldown_days",
    "min_hold_days",
    "trade_rate",
    "no_trade_band",
    "max_weight",
    "gross_target",
    "max_leverage",
    "net_min",
    "net_max",
    "score_is_policy",
)
"""Columns of a parameter row. Choices are numbers: ``sizing`` 0 spec, 1 rank, 2 top-k;
``score_symmetric``, ``gate_open`` (short gate "score"), ``multiplier_any_sign``,
``allow_short``, ``long_only``, ``score_is_policy`` (the book ranks ``policy_score``, else the
fixed score grid) are 0 or 1."""

_P = {name: i for i, name in enumerate(PARAMS)}
(
    _RA, _K, _SMAX, _TL, _TS, _PEAK, _OVH, _LATE, _ASHORT, _SYM, _GATE, _ANY,
    _SIZING, _LONLY, _ENTER, _EXIT, _TOPK, _NDROP, _COOL, _MINHOLD, _RATE, _BAND,
    _CAP, _GROSS, _LEV, _NMIN, _NMAX, _SCOREPOL,
) = range(len(PARAMS))  # fmt: skip
_FORGOTTEN: Final = 2**40
_SPEC, _RANK = 0, 1


@numba.njit(nogil=True, cache=True)
def _policy_cell(
    prob: float, ret: float, dd: float, vol: float, overheat: float, late: float,
    early: float, peak: float, par: np.ndarray,
) -> tuple[float, float]:  # fmt: skip
    """``(policy_score, position_size)`` of one row (`m002.policy.apply_policy`); the score
    is NaN where the policy's is null."""
    if not (np.isfinite(prob) and np.isfinite(ret) and np.isfinite(dd)):
        return np.nan, 0.0
    lam = par[_RA]
    gain = prob * (ret / 100.0)
    long_score = gain - lam * max(-dd / 100.0, 0.0)
    factor_overheat = par[_OVH] if overheat == 1.0 else 1.0
    factor_late = par[_LATE] if late == 1.0 else 1.0
    any_sign = par[_ANY] == 1.0
    if any_sign or long_score > 0.0:
        long_score = long_score * factor_overheat * factor_late
    if par[_SYM] == 1.0:
        run_up = max((ret - min(dd, 0.0)) / 100.0, 0.0)
        short_score = gain + lam * run_up
        if any_sign:
            short_score = short_score * factor_overheat * factor_late
        score = max(long_score, 0.0) + min(short_score, 0.0)
    else:
        short_score = long_score
        score = long_score
    if not (np.isfinite(vol) and vol > 0.0):
        return score, 0.0
    raw = par[_K] * score / vol
    if long_score >= par[_TL]:
        return score, min(max(raw, 0.0), par[_SMAX])
    gate = par[_GATE] == 1.0 or early == 1.0 or (np.isfinite(peak) and peak >= par[_PEAK])
    if par[_ASHORT] == 1.0 and short_score <= par[_TS] and gate:
        return score, min(max(raw, -par[_SMAX]), 0.0)
    return score, 0.0


_COUNT_UP_TO: Final = 128
"""Non-zero scores up to which a date is ranked by counting (n^2 comparisons without a
branch, which the compiler vectorises) rather than by a merge sort (n log n comparisons,
each a branch the processor mispredicts half the time on random scores)."""


@numba.njit(nogil=True, cache=True)
def _quantiles(
    score: np.ndarray, out: np.ndarray, order: np.ndarray, work: np.ndarray, values: np.ndarray
) -> None:
    """Average-rank quantile ``(rank - 1) / (n - 1)`` of finite scores into ``out``
    (`quantile_expr`); ``order``, ``work`` and ``values`` are work space of the same size.

    The average rank is the number of smaller scores plus half the number of equal ones
    (itself included) plus 1/2: integers and halves, exact in floating point."""
    n = score.size
    if n < 2:
        out[:] = np.nan
        return
    n_nonzero = n_zero = n_negative = 0
    for i in range(n):
        if score[i] == 0.0:
            n_zero += 1
        else:
            order[n_nonzero] = i
            values[n_nonzero] = score[i]
            n_nonzero += 1
            n_negative += score[i] < 0.0
    if n_nonzero > _COUNT_UP_TO:
        _order_into(score, 1.0, order, work)
        i = 0
        while i < n:
            j = i
            while j + 1 < n and score[order[j + 1]] == score[order[i]]:
                j += 1
            rank = (i + 1 + j + 1) / 2.0
            for m in range(i, j + 1):
                out[order[m]] = (rank - 1.0) / (n - 1)
            i = j + 1
        return
    for a in range(n_nonzero):
        v = values[a]
        below = equal = 0
        for b in range(n_nonzero):
            below += values[b] < v
            equal += values[b] == v
        if v > 0.0:
            below += n_zero
        out[order[a]] = (below + (equal + 1) / 2.0 - 1.0) / (n - 1)
    if n_zero:
        zero_quantile = (n_negative + (n_zero + 1) / 2.0 - 1.0) / (n - 1)
        for i in range(n):
            if score[i] == 0.0:
                out[i] = zero_quantile


@numba.njit(nogil=True, cache=True)
def _stable_order(values: np.ndarray, sign: float) -> np.ndarray:
    """``np.argsort(sign * values, kind="stable")``: equal values in index (ticker) order."""
    order = np.empty(values.size, dtype=np.int64)
    _order_into(values, sign, order, np.empty(values.size, dtype=np.int64))
    return order


@numba.njit(nogil=True, cache=True)
def _order_into(values: np.ndarray, sign: float, out: np.ndarray, work: np.ndarray) -> None:
    """``out`` = ``np.argsort(sign * values, kind="stable")``, without allocating (``work``:
    scratch of the same size).

    Only the non-zero values are ordered: by counting, for each, the values before it (up
    to `_COUNT_UP_TO` of them), else by `_merge`. A policy score is exactly 0 on many rows
    (no view); those keep their index order between the negatives and the positives, where
    a full stable sort puts them too."""
    n = values.size
    n_nonzero = n_zero = n_negative = 0
    for i in range(n):
        if values[i] == 0.0:
            work[n_zero] = i
            n_zero += 1
        else:
            out[n_nonzero] = i
            n_nonzero += 1
            n_negative += sign * values[i] < 0.0
    a, b = out[:n_nonzero], work[n_zero : n_zero + n_nonzero]
    if n_nonzero <= _COUNT_UP_TO:
        # the keys side by side, so that the count over them runs in vector instructions
        keys = np.empty(n_nonzero)
        for p in range(n_nonzero):
            keys[p] = sign * values[a[p]]
        for p in range(n_nonzero):
            v = keys[p]
            before = 0
            for q in range(p):
                before += keys[q] <= v
            for q in range(p + 1, n_nonzero):
                before += keys[q] < v
            b[before] = a[p]
        a[:] = b
    else:
        _merge(values, sign, a, b)
    # the positives move past the zeros (from the end: the ranges overlap), the zeros go
    # between them and the negatives
    for k in range(n_nonzero - 1, n_negative - 1, -1):
        out[k + n_zero] = out[k]
    out[n_negative : n_negative + n_zero] = work[:n_zero]


@numba.njit(nogil=True, cache=True)
def _merge(values: np.ndarray, sign: float, a: np.ndarray, b: np.ndarray) -> None:
    """``a`` sorted stably by ``sign * values[a]`` (``b``: scratch of the same size):
    insertion sort of runs of 16, then bottom-up merges."""
    n_nonzero = a.size
    run = 16
    for lo in range(0, n_nonzero, run):
        hi = min(lo + run, n_nonzero)
        for i in range(lo + 1, hi):
            x, j = a[i], i - 1
            while j >= lo and sign * values[a[j]] > sign * values[x]:
                a[j + 1] = a[j]
                j -= 1
            a[j + 1] = x
    width, in_b = run, False
    while width < n_nonzero:
        src, dst = (b, a) if in_b else (a, b)
        for lo in range(0, n_nonzero, 2 * width):
            mid, hi = min(lo + width, n_nonzero), min(lo + 2 * width, n_nonzero)
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if sign * values[src[j]] < sign * values[src[i]]:
                    dst[k] = src[j]
                    j += 1
                else:
                    dst[k] = src[i]
                    i += 1
                k += 1
            dst[k : k + mid - i] = src[i:mid]
            k += mid - i
            dst[k : k + hi - j] = src[j:hi]
        in_b = not in_b
        width *= 2
    if in_b:
        a[:] = b


@numba.njit(nogil=True, cache=True)
def _ahead(score: np.ndarray, sign: float, i: int, j: int) -> bool:
    """Whether name ``i`` comes before name ``j`` in the book's order: ``sign * score``
    descending, equal values in index (ticker) order (`_stable_order` of ``-sign``)."""
    a, b = sign * score[i], sign * score[j]
    return a > b or (a == b and i < j)


@numba.njit(nogil=True, cache=True)
def _insert(score: np.ndarray, sign: float, names: np.ndarray, count: int, i: int) -> None:
    """Put name ``i`` into ``names[:count + 1]``, kept in the book's order (``names[:count]``
    already is)."""
    m = count
    while m > 0 and _ahead(score, sign, i, names[m - 1]):
        names[m] = names[m - 1]
        m -= 1
    names[m] = i


@numba.njit(nogil=True, cache=True)
def _dropout(
    score: np.ndarray, sign: float, held: np.ndarray, can_sell: np.ndarray,
    can_buy: np.ndarray, topk: int, n_drop: int, out: np.ndarray, candidates: np.ndarray,
    combined: np.ndarray,
) -> None:  # fmt: skip
    """One TopkDropout step (`m002.portfolio._select._dropout_step`) into ``out``, the order
    being ``sign * score`` descending. Only the names the step reads are ordered: the best
    ``n_drop + topk - held`` names it may buy (kept while scanning, as a short sorted list)
    and those with the held ones; ``candidates`` and ``combined`` are work space."""
    n = held.size
    h = 0
    for i in range(n):
        if held[i]:
            h += 1
    wanted = max(n_drop + topk - h, 0)
    n_cand = 0
    for i in range(n):
        if not can_buy[i] or held[i] or wanted == 0:
            continue
        if n_cand < wanted:
            _insert(score, sign, candidates, n_cand, i)
            n_cand += 1
        elif _ahead(score, sign, i, candidates[n_cand - 1]):
            _insert(score, sign, candidates, n_cand - 1, i)
    n_comb = 0
    for i in range(n):
        if held[i]:
            _insert(score, sign, combined, n_comb, i)
            n_comb += 1
    for m in range(n_cand):
        _insert(score, sign, combined, n_comb, candidates[m])
        n_comb += 1
    sold = 0
    out[:] = held
    if n_drop > 0:
        for m in range(max(n_comb - n_drop, 0), n_comb):
            i = combined[m]
            if held[i] and can_sell[i]:
                out[i] = False
                sold += 1
    for m in range(min(max(sold + topk - h, 0), n_cand)):
        out[candidates[m]] = True


@numba.njit(nogil=True, cache=True)
def _water_fill(values: np.ndarray, total: float, cap: float) -> np.ndarray:
    """``min(cap, lam * values)`` summing to ``total`` (`m002.portfolio._sizing._water_fill`;
    ``cap`` NaN: no cap)."""
    scale = total / values.sum()
    out: np.ndarray
    if np.isnan(cap) or values.max() * scale <= cap:
        out = values * scale
        return out
    if total >= cap * values.size:
        return np.full(values.size, cap)
    order = _stable_order(values, -1.0)
    ranked = values[order]
    rest = np.cumsum(ranked[::-1])[::-1]
    first = 0
    for m in range(ranked.size):
        if (total - m * cap) / rest[m] * ranked[m] <= cap:
            first = m
            break
    lam = (total - first * cap) / rest[first]
    out = np.minimum(values * lam, cap)
    return out


@numba.njit(nogil=True, cache=True)
def _band(par: np.ndarray) -> tuple[float, float]:
    """``(net_min, net_max)``, ``(0, 0)`` for a two-sided rank or top-k book (`net_band`)."""
    two_sided = par[_SIZING] != _SPEC and par[_LONLY] == 0.0
    if two_sided and np.isnan(par[_NMIN]) and np.isnan(par[_NMAX]):
        return 0.0, 0.0
    return par[_NMIN], par[_NMAX]


@numba.njit(nogil=True, cache=True)
def _shrink_to_band(long: float, short: float, low: float, high: float) -> tuple[float, float]:
    if not np.isnan(high) and long - short > high:
        long = max(short + high, 0.0)
    elif not np.isnan(low) and long - short < low:
        short = max(long - low, 0.0)
    return long, short


@numba.njit(nogil=True, cache=True)
def _side_totals(
    raw_long: float, raw_short: float, any_long: bool, any_short: bool, par: np.ndarray
) -> tuple[float, float]:
    """`m002.portfolio._sizing.side_totals` without the beta rule, then the leverage cap of
    `target_book` (no volatility target), from the raw book's side sums."""
    gross_target = par[_GROSS]
    if par[_SIZING] == _SPEC:
        if np.isnan(gross_target):
            long, short = raw_long, raw_short
        elif raw_long + raw_short > 0.0:
            long = gross_target * raw_long / (raw_long + raw_short)
            short = gross_target * raw_short / (raw_long + raw_short)
        else:
            long = short = 0.0
    else:
        gross = 1.0 if np.isnan(gross_target) else gross_target
        if par[_LONLY] == 1.0:
            long, short = gross, 0.0
        else:
            long = short = gross / 2.0
    low, high = _band(par)
    if any_long and any_short:
        if not (np.isnan(low) and np.isnan(high)):
            total, net = long + short, long - short
            net = net if np.isnan(low) else max(net, low)
            net = net if np.isnan(high) else min(net, high)
            net = min(max(net, -total), total)
            long, short = (total + net) / 2.0, (total - net) / 2.0
    else:
        long, short = _shrink_to_band(
            long if any_long else 0.0, short if any_short else 0.0, low, high
        )
    leverage = par[_LEV]
    if not np.isnan(leverage) and long + short > leverage:
        scale = leverage / (long + short)
        long, short = long * scale, short * scale
    return long, short


@numba.njit(nogil=True, cache=True)
def _fill_side(raw: np.ndarray, sign: float, total: float, cap: float, out: np.ndarray) -> None:
    """``out`` on the names of one side (``sign * raw > 0``): `_water_fill` of their sizes."""
    values_sum = values_max = 0.0
    count = 0
    for x in raw:
        v = sign * x
        if v > 0.0:
            values_sum += v
            values_max = max(values_max, v)
            count += 1
    if count == 0 or total <= 0.0:
        return
    scale = total / values_sum
    if np.isnan(cap) or values_max * scale <= cap:
        for i in range(raw.size):
            if sign * raw[i] > 0.0:
                out[i] = sign * (sign * raw[i] * scale)
        return
    if total >= cap * count:
        for i in range(raw.size):
            if sign * raw[i] > 0.0:
                out[i] = sign * cap
        return
    index = np.empty(count, dtype=np.int64)
    m = 0
    for i in range(raw.size):
        if sign * raw[i] > 0.0:
            index[m] = i
            m += 1
    values = sign * raw[index]
    filled = _water_fill(values, total, cap)
    for m in range(count):
        out[index[m]] = sign * filled[m]


@numba.njit(nogil=True, cache=True)
def _fill_mode(values_sum: float, values_max: float, count: int, total: float, cap: float) -> int:
    """Which case of `_water_fill` a side is in: 0 nothing to fill, 1 scaled (no cap binds),
    2 every name at the cap, 3 a proper water-fill."""
    if count == 0 or total <= 0.0:
        return 0
    if np.isnan(cap) or values_max * (total / values_sum) <= cap:
        return 1
    return 2 if total >= cap * count else 3


@numba.njit(nogil=True, cache=True)
def _target(raw: np.ndarray, par: np.ndarray, out: np.ndarray) -> None:
    """`target_book` at `_side_totals` into ``out`` (`m002.portfolio._sizing._at_totals`):
    one pass for the sides' sums, one to write (a water-fill where a cap binds is the rare
    third)."""
    raw_long = raw_short = max_long = max_short = 0.0
    n_long = n_short = 0
    for x in raw:
        if x > 0.0:
            raw_long += x
            n_long += 1
            max_long = max(max_long, x)
        elif x < 0.0:
            raw_short -= x
            n_short += 1
            max_short = max(max_short, -x)
    long, short = _side_totals(raw_long, raw_short, n_long > 0, n_short > 0, par)
    cap = par[_CAP]
    if par[_SIZING] == _SPEC and np.isnan(par[_GROSS]):
        # no gross to reach: scale each side to its total, then clip
        for i in range(raw.size):
            value = 0.0
            if raw[i] > 0.0:
                value = raw[i] * (long / raw_long)
            elif raw[i] < 0.0:
                value = raw[i] * (-short / -raw_short)
            out[i] = value if np.isnan(cap) else min(max(value, -cap), cap)
        return
    shrink = 1.0
    if not np.isnan(cap):
        if long > cap * n_long:
            shrink = min(shrink, cap * n_long / long)
        if short > cap * n_short:
            shrink = min(shrink, cap * n_short / short)
    total_long, total_short = long * shrink, short * shrink
    mode_long = _fill_mode(raw_long, max_long, n_long, total_long, cap)
    mode_short = _fill_mode(raw_short, max_short, n_short, total_short, cap)
    scale_long = total_long / raw_long if mode_long == 1 else 0.0
    scale_short = total_short / raw_short if mode_short == 1 else 0.0
    for i in range(raw.size):
        x = raw[i]
        value = 0.0
        if x > 0.0:
            if mode_long == 1:
                value = x * scale_long
            elif mode_long == 2:
                value = cap
        elif x < 0.0:
            if mode_short == 1:
                value = -((-x) * scale_short)
            elif mode_short == 2:
                value = -cap
        out[i] = value
    if mode_long == 3:
        _fill_side(raw, 1.0, total_long, cap, out)
    if mode_short == 3:
        _fill_side(raw, -1.0, total_short, cap, out)


@numba.njit(nogil=True, cache=True)
def _trade(held: np.ndarray, target: np.ndarray, age: np.ndarray, par: np.ndarray,
           book: np.ndarray) -> None:  # fmt: skip
    """`m002.portfolio._trade.trade` (rate, band, minimum hold), then `hold_limits`."""
    rate, band, min_hold, cap = par[_RATE], par[_BAND], par[_MINHOLD], par[_CAP]
    gross = 0.0
    for i in range(held.size):
        held_side, target_side = np.sign(held[i]), np.sign(target[i])
        start = held[i] if held_side != 0.0 and target_side == held_side else 0.0
        moved = (1.0 - rate) * start + rate * target[i]
        if abs(target[i] - moved) < band:
            moved = target[i]
        value = start if abs(target[i] - start) < band else moved
        if target_side == 0.0:
            value = 0.0
        locked = min_hold > 0.0 and held_side != 0.0 and age[i] < min_hold
        if locked and np.sign(value) != held_side:
            value = held[i]
        if not np.isnan(cap):
            value = min(max(value, -cap), cap)
        book[i] = value + 0.0  # no negative zero (hold_limits' last step), here and below
        gross += abs(value)
    leverage = par[_LEV]
    if not np.isnan(leverage) and gross > leverage:
        for i in range(book.size):
            book[i] = book[i] * (leverage / gross) + 0.0
    low, high = _band(par)
    if not (np.isnan(low) and np.isnan(high)):
        long = short = 0.0
        for x in book:
            if x > 0.0:
                long += x
            elif x < 0.0:
                short -= x
        new_long, new_short = _shrink_to_band(long, short, low, high)
        for i in range(book.size):
            if book[i] > 0.0 and new_long < long:
                book[i] = book[i] * (new_long / long) + 0.0
            elif book[i] < 0.0 and new_short < short:
                book[i] = book[i] * (new_short / short) + 0.0


@numba.njit(nogil=True, cache=True)
def _raw(
    score: np.ndarray, size: np.ndarray, held: np.ndarray, age: np.ndarray,
    since_close: np.ndarray, par: np.ndarray, raw: np.ndarray, block_long: np.ndarray,
    block_short: np.ndarray, quantile: np.ndarray, values: np.ndarray, order: np.ndarray,
    reverse: np.ndarray, work: np.ndarray,
) -> None:  # fmt: skip
    """The raw book of one date into ``raw`` (`m002.portfolio._build._step`, steps 1-2);
    the other arrays after ``raw`` are work space of its size (contiguous, one each: the
    compiler vectorises loops over them)."""
    n = score.size
    cooldown = par[_COOL]
    long_only = par[_LONLY] == 1.0
    sizing = par[_SIZING]
    if sizing != _SPEC and sizing != _RANK:
        _raw_topk(score, held, age, since_close, par, raw, block_long, block_short, order,
                  reverse, work)  # fmt: skip
        return
    if sizing == _RANK:
        _quantiles(score, quantile, order, work, values)
    enter, exit_ = par[_ENTER], par[_EXIT]
    for i in range(n):  # one pass: memory, the book's rule, the blocks
        side = np.sign(held[i])
        cooling = side == 0.0 and since_close[i] < cooldown
        blocked_long = cooling or (cooldown > 0.0 and side < 0.0)
        blocked_short = cooling or (cooldown > 0.0 and side > 0.0)
        if sizing == _SPEC:
            value = max(size[i], 0.0) if long_only else size[i]
        elif score[i] == 0.0:  # no view: no rank book holds it
            value = 0.0
        elif long_only and np.isnan(enter):  # the tilt: every name, by its quantile
            value = 0.0 if np.isnan(quantile[i]) else quantile[i]
        else:
            centred = quantile[i] - 0.5
            if np.isnan(enter):
                long_in, short_in = centred > 0.0, centred < 0.0
            else:
                long_in = quantile[i] >= (exit_ if held[i] > 0.0 else enter)
                short_in = quantile[i] <= 1.0 - (exit_ if held[i] < 0.0 else enter)
                long_in = long_in and centred > 0.0
                short_in = short_in and centred < 0.0
            value = centred if long_in or (short_in and not long_only) else 0.0
        if (value > 0.0 and blocked_long) or (value < 0.0 and blocked_short):
            value = 0.0
        raw[i] = value


@numba.njit(nogil=True, cache=True)
def _raw_topk(
    score: np.ndarray, held: np.ndarray, age: np.ndarray, since_close: np.ndarray,
    par: np.ndarray, raw: np.ndarray, block_long: np.ndarray, block_short: np.ndarray,
    order: np.ndarray, reverse: np.ndarray, work: np.ndarray,
) -> None:  # fmt: skip
    """The top-k book of `_raw`: the blocks first, as the dropout step reads them."""
    n = score.size
    cooldown = par[_COOL]
    long_only = par[_LONLY] == 1.0
    for i in range(n):
        side = np.sign(held[i])
        cooling = side == 0.0 and since_close[i] < cooldown
        block_long[i] = cooling or (cooldown > 0.0 and side < 0.0)
        block_short[i] = cooling or (cooldown > 0.0 and side > 0.0)
    topk, n_drop = int(par[_TOPK]), int(par[_NDROP])
    has_view = score != 0.0
    can_sell = age >= par[_MINHOLD]
    new_long = np.empty(n, dtype=np.bool_)
    _dropout(score, 1.0, held > 0.0, can_sell, ~block_long & has_view, topk, n_drop,
             new_long, order, work)  # fmt: skip
    for i in range(n):
        raw[i] = 1.0 if new_long[i] else 0.0
    if not long_only:
        held_short = (held < 0.0) & ~new_long
        can_short = ~block_short & has_view & ~new_long
        new_short = np.empty(n, dtype=np.bool_)
        _dropout(score, -1.0, held_short, can_sell, can_short, topk, n_drop, new_short,
                 reverse, work)  # fmt: skip
        for i in range(n):
            raw[i] -= 1.0 if new_short[i] else 0.0
    for i in range(n):
        no_view = score[i] == 0.0
        if no_view or (raw[i] > 0.0 and block_long[i]) or (raw[i] < 0.0 and block_short[i]):
            raw[i] = 0.0


@numba.njit(nogil=True, cache=True)
def simulate(
    present: np.ndarray, prob: np.ndarray, ret_pct: np.ndarray, dd_pct: np.ndarray,
    vol: np.ndarray, overheat: np.ndarray, late: np.ndarray, early: np.ndarray,
    peak: np.ndarray, fixed_score: np.ndarray, returns: np.ndarray, params: np.ndarray,
    schedule: np.ndarray, costs: np.ndarray, weights: np.ndarray, until: int,
) -> np.ndarray:  # fmt: skip
    """Decide and backtest the first ``until`` dates; returns ``(n_dates, 5)``: net return,
    gross return, turnover, gross exposure, net exposure of each date (`run_backtest`'s daily
    columns; 0 after ``until``). Every rule is causal, so a date's row is the same whatever
    ``until`` is, and a study that scores the early folds only stops there.

    Grids are ``(n_dates, n_tickers)``, NaN where a ticker has no row (``present`` False).
    ``returns`` is the return a weight held on a row earns (0 where none), ``costs`` is
    ``(cost_rate, borrow_rate, gross_cap, allow_short)`` of the backtest. ``weights``, when it
    has the grid's shape, receives each row's target weight (the portfolio's output);
    pass an empty array to skip it.
    """
    n_dates, n_names = present.shape
    cost_rate, borrow_rate, gross_cap, allow_short = costs[0], costs[1], costs[2], costs[3]
    keep = weights.shape[0] == n_dates
    out = np.zeros((n_dates, 5))
    held = np.zeros(n_names)
    age = np.zeros(n_names, dtype=np.int64)
    since = np.full(n_names, _FORGOTTEN, dtype=np.int64)
    bt_weight = np.zeros(n_names)  # backtest weight decided on each ticker's last row
    bt_held = np.zeros(n_names)  # backtest weight held on each ticker's last row
    score = np.empty(n_names)
    size = np.empty(n_names)
    raw_buf, target_buf, book_buf = np.empty(n_names), np.empty(n_names), np.empty(n_names)
    held_buf = np.empty(n_names)
    age_buf = np.empty(n_names, dtype=np.int64)
    since_buf = np.empty(n_names, dtype=np.int64)
    block_long, block_short = np.empty(n_names, np.bool_), np.empty(n_names, np.bool_)
    quantile, values = np.empty(n_names), np.empty(n_names)
    order = np.empty(n_names, np.int64)
    reverse = np.empty(n_names, np.int64)
    work = np.empty(n_names, np.int64)
    all_names = np.empty(n_names, dtype=np.int64)
    for d in range(min(until, n_dates)):
        par = params[schedule[d]]
        use_policy = par[_SCOREPOL] == 1.0
        n_active = 0
        for t in range(n_names):
            if not present[d, t]:
                continue
            s, z = _policy_cell(
                prob[d, t], ret_pct[d, t], dd_pct[d, t], vol[d, t], overheat[d, t],
                late[d, t], early[d, t], peak[d, t], par,
            )  # fmt: skip
            if not use_policy:
                s = fixed_score[d, t]
            if np.isfinite(s):
                score[n_active], size[n_active] = s, z
                all_names[n_active] = t
                held_buf[n_active] = held[t]
                age_buf[n_active] = age[t] + 1
                since_buf[n_active] = since[t] + 1
                n_active += 1
        names = all_names[:n_active]
        held_a, age_a, since_a = held_buf[:n_active], age_buf[:n_active], since_buf[:n_active]
        raw, target, book = raw_buf[:n_active], target_buf[:n_active], book_buf[:n_active]
        m = n_active
        _raw(score[:m], size[:m], held_a, age_a, since_a, par, raw, block_long[:m],
             block_short[:m], quantile[:m], values[:m], order[:m], reverse[:m],
             work[:m])  # fmt: skip
        _target(raw, par, target)
        _trade(held_a, target, age_a, par, book)
        held[:] = 0.0
        age[:] = 0
        since[:] = _FORGOTTEN
        for m in range(n_active):
            t = names[m]
            new_side, old_side = np.sign(book[m]), np.sign(held_a[m])
            held[t] = book[m]
            age[t] = 0 if new_side != 0.0 and new_side != old_side else age_a[m]
            since[t] = 0 if old_side != 0.0 and new_side != old_side else since_a[m]
        # the backtest (run_backtest): scale the day's targets under the gross cap
        gross_target = 0.0
        for t in range(n_names):
            if present[d, t]:
                w = held[t] if allow_short == 1.0 else max(held[t], 0.0)
                gross_target += abs(w)
        scale = gross_cap / gross_target if gross_target > gross_cap else 1.0
        gross_ret = turnover = borrow = gross_exp = net_exp = 0.0
        for t in range(n_names):
            if not present[d, t]:
                continue
            if keep:
                weights[d, t] = held[t]
            w = held[t] if allow_short == 1.0 else max(held[t], 0.0)
            position = bt_weight[t]
            gross_ret += position * returns[d, t]
            turnover += abs(position - bt_held[t])
            borrow += abs(min(position, 0.0)) * borrow_rate
            gross_exp += abs(position)
            net_exp += position
            bt_held[t] = position
            bt_weight[t] = w * scale
        cost = turnover * cost_rate + borrow
        out[d, 0] = gross_ret - cost
        out[d, 1] = gross_ret
        out[d, 2] = turnover
        out[d, 3] = gross_exp
        out[d, 4] = net_exp
    return out
