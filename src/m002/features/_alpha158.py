"""Qlib's Alpha158 factor set as polars expressions.

The names and formulas are those of Qlib's ``Alpha158`` handler (``qlib/contrib/data/loader.py``,
``Alpha158DL.get_feature_config`` with its defaults), with Qlib's operator semantics
(``qlib/data/ops.py``): ``Std`` is the sample standard deviation (ddof=1); ``Quantile`` is
linear interpolation between order statistics; ``Rank`` is the percentile of the newest value
in its window, ties averaged; ``IdxMax``/``IdxMin`` count 1 for the oldest row of the window and
take the oldest of tied extremes; ``Slope``/``Rsquare``/``Resi`` regress the window on 1..d;
``Corr`` is Pearson's correlation; ``Greater``/``Less`` are element-wise max/min; the ``1e-12``
that Qlib adds to some denominators is kept, so a zero volume gives the same (huge) ratio as in
Qlib. ``Rsquare`` and ``Corr`` are undefined (null here, NaN in Qlib) where a series' rolling
standard deviation is at most ``2e-5``, as in Qlib. After a zero volume the log volume ratio of
``CORD`` is undefined (Qlib: +inf or NaN, which pandas skips); ``CORD`` then correlates the
other rows of the window, as Qlib does.

Differences from Qlib, each on purpose:

- ``VWAP0`` is absent: the canonical data has no VWAP (Qlib's own US data has none either).
- Qlib evaluates its rolling operators with ``min_periods=1``, so its first rows hold values of
  shorter windows; here a feature is null until its window is full (its warm-up), like every
  other m002 feature.

A constant divisor is applied as a multiplication by its reciprocal: polars 2.1 turns a division
by a scalar into that on part of a column only (its vector body, not the tail), so an explicit
reciprocal keeps every row's bits independent of the column's length, as causality requires
(Qlib divides; the two differ by at most one unit in the last place).

Rolling regressions and correlations come from rolling sums; ranks from counts of signs of
differences with shifted columns; ``IdxMax``/``IdxMin`` of 5 rows from comparisons with shifted
columns, and those of 10, 20, 30 and 60 rows by merging two shorter windows. No Python callback
runs per row or window.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import reduce
from typing import Final

import polars as pl

from m002.features._engine import ROW_IN_TICKER, Feature

__all__ = ["ALPHA158_WINDOWS", "alpha158_features"]

ALPHA158_WINDOWS: Final = (5, 10, 20, 30, 60)
_EPS: Final = 1e-12
"""What Qlib adds to a denominator that can be 0."""
_FLAT_STD: Final = 2e-5
"""Qlib's ``np.isclose(std, 0, atol=2e-5)``: at or below this a series is flat in the window."""

_HALVES: Final = {10: (5, 5), 20: (10, 10), 30: (10, 20), 60: (30, 30)}
"""Windows 10, 20, 30 and 60 as two consecutive shorter ones: (older rows, newer rows)."""

_P = "ratio to close"
_R = "ratio"

c, o, h, lo, v = (pl.col(n) for n in ("close", "open", "high", "low", "volume"))


def _h(name: str) -> str:
    """The helper column ``name`` of this set (dropped from the result)."""
    return f"_a158_{name}"


def _hc(name: str) -> pl.Expr:
    return pl.col(_h(name))


# --- expressions ------------------------------------------------------------------------------


def slope_numerator(y: pl.Expr, *, window: int) -> pl.Expr:
    """``sum_k (x_k - mean x) * y_k`` over the window, ``x`` the row number: the covariance
    of ``y`` with time, times ``window``. From rolling sums of ``y`` and ``row * y``."""
    row = pl.col(ROW_IN_TICKER).cast(pl.Float64)
    x_mean = row - (window - 1) / 2
    return (row * y).rolling_sum(window) - x_mean * y.rolling_sum(window)


def time_sum_of_squares(window: int) -> float:
    """``sum_k (x_k - mean x)^2`` for ``x = 1..window``."""
    return window * (window * window - 1) / 12


def rolling_corr(
    x: pl.Expr,
    y: pl.Expr,
    *,
    window: int,
    x_mean: pl.Expr | None = None,
    x_std: pl.Expr | None = None,
) -> pl.Expr:
    """Pearson's correlation of ``x`` and ``y`` over the window, null where either rolling
    standard deviation is at most Qlib's flatness tolerance. ``x_mean`` and ``x_std``: the
    rolling mean and sd of ``x`` where a column already holds them."""
    x_mean = x.rolling_mean(window) if x_mean is None else x_mean
    x_std = x.rolling_std(window) if x_std is None else x_std
    y_std = y.rolling_std(window)
    products = (x * y).rolling_sum(window) - window * x_mean * y.rolling_mean(window)
    corr = products / ((window - 1) * x_std * y_std)
    return pl.when((x_std > _FLAT_STD) & (y_std > _FLAT_STD)).then(corr)


def rolling_corr_of_pairs(x: pl.Expr, y: pl.Expr, *, window: int) -> pl.Expr:
    """Pearson's correlation over the rows of the window where both ``x`` and ``y`` are
    defined (``y`` may be null), as pandas, and so Qlib, computes it: null where fewer than 2
    such rows remain, or where the rolling sd of ``x`` (all its rows) or of ``y`` (its defined
    rows) is at most Qlib's flatness tolerance."""
    both = x.is_not_null() & y.is_not_null()
    xp, yp = pl.when(both).then(x), pl.when(both).then(y)
    n = both.cast(pl.Float64).rolling_sum(window)
    sx, sy = xp.rolling_sum(window, min_samples=1), yp.rolling_sum(window, min_samples=1)
    products = (xp * yp).rolling_sum(window, min_samples=1) - sx * sy / n
    y_std = yp.rolling_std(window, min_samples=2)  # that of y's defined rows when x has no gap
    spread = (n - 1) * xp.rolling_std(window, min_samples=2) * y_std
    flat_x = x.rolling_std(window) <= _FLAT_STD
    return pl.when((n >= 2) & ~flat_x & (y_std > _FLAT_STD)).then(products / spread)


def sign_count(column: pl.Expr, *, lags: range) -> pl.Expr:
    """``sum_k sign(x_t - x_(t-k))`` over ``k`` in ``lags``: how many of those earlier rows
    are below today's value minus how many are above."""
    return pl.sum_horizontal([(column - column.shift(k)).sign() for k in lags])


def oldest_extreme_index(column: pl.Expr, extreme: pl.Expr, *, window: int) -> pl.Expr:
    """1-based position (1 = oldest row) of the oldest row of the window equal to ``extreme``
    (the window's max or min): Qlib's ``IdxMax``/``IdxMin`` by comparing ``window`` shifted
    columns. For short windows; `merged_extreme_index` builds the longer ones from these."""
    lags = [pl.when(column.shift(k) == extreme).then(pl.lit(window - k)) for k in range(window)]
    return pl.min_horizontal(lags).cast(pl.Float64)


def merged_extreme_index(
    older: pl.Expr,
    older_index: pl.Expr,
    newer: pl.Expr,
    newer_index: pl.Expr,
    *,
    top: bool,
    older_rows: int,
) -> pl.Expr:
    """Position of the extreme of a window made of two consecutive windows, from their
    extremes and positions: the older one (``older_rows`` rows, its columns already shifted
    to end just before the newer one) wins ties, as Qlib's first ``argmax``/``argmin``."""
    older_wins = older >= newer if top else older <= newer
    return pl.when(older_wins).then(older_index).otherwise(newer_index + older_rows)


# --- the set ----------------------------------------------------------------------------------


def _kbar() -> list[Feature]:
    top, bottom = pl.max_horizontal(o, c), pl.min_horizontal(o, c)
    rng = h - lo + _EPS
    rows = [
        ("KMID", (c - o) / o, "(close - open) / open", "ratio to open"),
        ("KLEN", (h - lo) / o, "(high - low) / open", "ratio to open"),
        ("KMID2", (c - o) / rng, "(close - open) / (high - low + 1e-12)", _R),
        ("KUP", (h - top) / o, "(high - max(open, close)) / open", "ratio to open"),
        ("KUP2", (h - top) / rng, "(high - max(open, close)) / (high - low + 1e-12)", _R),
        ("KLOW", (bottom - lo) / o, "(min(open, close) - low) / open", "ratio to open"),
        ("KLOW2", (bottom - lo) / rng, "(min(open, close) - low) / (high - low + 1e-12)", _R),
        ("KSFT", (2 * c - h - lo) / o, "(2 close - high - low) / open", "ratio to open"),
        ("KSFT2", (2 * c - h - lo) / rng, "(2 close - high - low) / (high - low + 1e-12)", _R),
    ]
    return [
        Feature(name, expr, warmup=0, pointwise=True, units=units, formula=formula)
        for name, expr, formula, units in rows
    ]


def _price() -> list[Feature]:
    return [
        Feature(
            f"{name.upper()}0",
            pl.col(name) / c,
            warmup=0,
            pointwise=True,
            units=_P,
            formula=f"{name} / close (Qlib's VWAP0 is absent: the data has no VWAP)"
            if name == "low"
            else f"{name} / close",
        )
        for name in ("open", "high", "low")
    ]


def _helpers() -> list[Feature]:
    """Per-row inputs shared by several families, and the rolling extremes."""
    prev_c, prev_v = c.shift(1), v.shift(1)
    log_ratio = (v / prev_v + 1).log()
    out = [
        Feature(_h("dc"), c - prev_c, warmup=1),
        Feature(_h("dv"), v - prev_v, warmup=1),
        Feature(_h("cret"), c / prev_c, warmup=1),
        Feature(_h("vlr"), pl.when(prev_v != 0).then(log_ratio), warmup=1),
        Feature(_h("logv"), (v + 1).log(), warmup=0, pointwise=True),
    ]
    out += [
        Feature(_h("up"), (_hc("dc") > 0).cast(pl.Float64), warmup=1, pointwise=True),
        Feature(_h("down"), (_hc("dc") < 0).cast(pl.Float64), warmup=1, pointwise=True),
        Feature(_h("gain"), _hc("dc").clip(lower_bound=0.0), warmup=1, pointwise=True),
        Feature(_h("loss"), (-_hc("dc")).clip(lower_bound=0.0), warmup=1, pointwise=True),
        Feature(_h("vgain"), _hc("dv").clip(lower_bound=0.0), warmup=1, pointwise=True),
        Feature(_h("vloss"), (-_hc("dv")).clip(lower_bound=0.0), warmup=1, pointwise=True),
        Feature(_h("wv"), (_hc("cret") - 1).abs() * v, warmup=1, pointwise=True),
    ]
    for d in ALPHA158_WINDOWS:
        out += [
            Feature(_h(f"hmax{d}"), _window_extreme(h, "hmax", d, top=True), warmup=d - 1),
            Feature(_h(f"lmin{d}"), _window_extreme(lo, "lmin", d, top=False), warmup=d - 1),
            Feature(_h(f"slope{d}"), slope_numerator(c, window=d), warmup=d - 1),
            Feature(_h(f"cstd{d}"), c.rolling_std(d), warmup=d - 1),
            Feature(_h(f"cmean{d}"), c.rolling_mean(d), warmup=d - 1),
        ]
    # window sums of the non-negative changes, each window summed afresh from its own rows (a
    # sliding sum keeps rounding residue of rows that left it: a window of no gains must give 0)
    # (a window's sum of absolute changes is that of its gains plus that of its losses)
    for name in ("gain", "loss", "vgain", "vloss"):
        out += [
            Feature(_h(f"{name}_s{d}"), _window_sum(name, d), warmup=d) for d in ALPHA158_WINDOWS
        ]
    # sign counts of close against the last 4, 9, 19, 29, 59 rows, each from the previous
    previous = 1
    for d in ALPHA158_WINDOWS:
        count = sign_count(c, lags=range(previous, d))
        if previous > 1:
            count = _hc(f"sgn{previous}") + count
        out.append(Feature(_h(f"sgn{d}"), count, warmup=d - 1))
        previous = d
    return out


def _window_extreme(column: pl.Expr, name: str, d: int, *, top: bool) -> pl.Expr:
    """Highest (``top``) or lowest value of ``column`` over ``d`` rows: a rolling max or min
    over 5 rows, longer windows as the extreme of two consecutive shorter ones (exact, and
    cheaper than a rolling extreme of each length)."""
    if d not in _HALVES:
        return column.rolling_max(d) if top else column.rolling_min(d)
    older, newer = _HALVES[d]
    parts = [_hc(f"{name}{older}").shift(newer), _hc(f"{name}{newer}")]
    return pl.max_horizontal(parts) if top else pl.min_horizontal(parts)


def _window_sum(name: str, d: int) -> pl.Expr:
    """Sum of helper ``name`` over ``d`` rows: 5 rows added up, longer windows as the sum of
    two consecutive shorter ones."""
    if d not in _HALVES:
        return reduce(operator.add, [_hc(name).shift(k) for k in range(d)])
    older, newer = _HALVES[d]
    return _hc(f"{name}_s{older}").shift(newer) + _hc(f"{name}_s{newer}")


def _full(d: int) -> int:
    """Warm-up of a window of ``d`` rows over a column defined from the first row."""
    return d - 1


def _diff(d: int) -> int:
    """Warm-up of a window of ``d`` rows over a column defined from the second row (a change
    from the row before)."""
    return d


def _family(
    name: str,
    expr: Callable[[int], pl.Expr],
    *,
    warmup: Callable[[int], int],
    units: str,
    formula: str,
    pointwise: bool = False,
) -> list[Feature]:
    """``name<d>`` for each window ``d``: ``expr(d)`` with warm-up ``warmup(d)``, ``formula``
    with ``{d}`` placeholders."""
    return [
        Feature(
            f"{name}{d}",
            expr(d),
            warmup=warmup(d),
            pointwise=pointwise,
            units=units,
            formula=formula.format(d=d),
        )
        for d in ALPHA158_WINDOWS
    ]


def _regression(d: int) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """BETA, RSQR and RESI of window ``d`` from the helper columns."""
    sxy = _hc(f"slope{d}")
    sxx = time_sum_of_squares(d)
    std = _hc(f"cstd{d}")
    slope = sxy * (1 / sxx)
    rsquare = pl.when(std > _FLAT_STD).then(sxy * sxy / (sxx * std * std * (d - 1)))
    resi = c - (_hc(f"cmean{d}") + slope * ((d - 1) / 2))
    return slope / c, rsquare, resi / c


def _rolling() -> list[Feature]:
    def share(part: str, gain: str, loss: str, d: int) -> pl.Expr:
        """Sum of ``part`` (gains, losses or their difference) over the sum of absolute
        changes (gains + losses) of the window, plus Qlib's 1e-12."""
        g, lo_ = _hc(f"{gain}_s{d}"), _hc(f"{loss}_s{d}")
        num = {"gain": g, "loss": lo_, "net": g - lo_}[part]
        return num / (g + lo_ + _EPS)

    def extreme_index(column: pl.Expr, kind: str, d: int, *, top: bool) -> pl.Expr:
        extreme = _hc(f"{'hmax' if top else 'lmin'}{d}")
        if d not in _HALVES:
            return oldest_extreme_index(column, extreme, window=d)
        older, newer = _HALVES[d]
        part = _hc(f"{'hmax' if top else 'lmin'}{older}").shift(newer)
        return merged_extreme_index(
            part,
            _hc(f"{kind}{older}").shift(newer),
            _hc(f"{'hmax' if top else 'lmin'}{newer}"),
            _hc(f"{kind}{newer}"),
            top=top,
            older_rows=older,
        )

    def imax(d: int) -> pl.Expr:
        return extreme_index(h, "imax", d, top=True)

    def imin(d: int) -> pl.Expr:
        return extreme_index(lo, "imin", d, top=False)

    return [
        *_family(
            "ROC", lambda d: c.shift(d) / c, warmup=_diff, units=_P, formula="close_(t-{d}) / close"
        ),
        *_family(
            "MA",
            lambda d: _hc(f"cmean{d}") / c,
            warmup=_full,
            units=_P,
            pointwise=True,
            formula="Mean(close, {d}) / close",
        ),
        *_family(
            "STD",
            lambda d: _hc(f"cstd{d}") / c,
            warmup=_full,
            units=_P,
            pointwise=True,
            formula="Std(close, {d}) / close, sample sd (ddof=1)",
        ),
        *_family(
            "BETA",
            lambda d: _regression(d)[0],
            warmup=_full,
            units="ratio to close per row",
            pointwise=True,
            formula="Slope(close, {d}) / close: least-squares slope of close on 1..{d}",
        ),
        *_family(
            "RSQR",
            lambda d: _regression(d)[1],
            warmup=_full,
            units="0..1",
            pointwise=True,
            formula="Rsquare(close, {d}): R^2 of close on 1..{d}; null where Std(close, {d}) <= "
            "2e-5",
        ),
        *_family(
            "RESI",
            lambda d: _regression(d)[2],
            warmup=_full,
            units=_P,
            pointwise=True,
            formula="Resi(close, {d}) / close: today's residual of that regression",
        ),
        *_family(
            "MAX",
            lambda d: _hc(f"hmax{d}") / c,
            warmup=_full,
            units=_P,
            pointwise=True,
            formula="Max(high, {d}) / close",
        ),
        *_family(
            "MIN",
            lambda d: _hc(f"lmin{d}") / c,
            warmup=_full,
            units=_P,
            pointwise=True,
            formula="Min(low, {d}) / close",
        ),
        *_family(
            "QTLU",
            lambda d: c.rolling_quantile(0.8, "linear", d) / c,
            warmup=_full,
            units=_P,
            formula="Quantile(close, {d}, 0.8) / close, linear interpolation",
        ),
        *_family(
            "QTLD",
            lambda d: c.rolling_quantile(0.2, "linear", d) / c,
            warmup=_full,
            units=_P,
            formula="Quantile(close, {d}, 0.2) / close, linear interpolation",
        ),
        *_family(
            "RANK",
            lambda d: (_hc(f"sgn{d}") + (d + 1)) * (1 / (2 * d)),
            warmup=_full,
            units="0..1",
            pointwise=True,
            formula="Rank(close, {d}): percentile of today's close among the last {d}, ties "
            "averaged",
        ),
        *_family(
            "RSV",
            lambda d: (c - _hc(f"lmin{d}")) / (_hc(f"hmax{d}") - _hc(f"lmin{d}") + _EPS),
            warmup=_full,
            units="0..1",
            pointwise=True,
            formula="(close - Min(low, {d})) / (Max(high, {d}) - Min(low, {d}) + 1e-12)",
        ),
        *_family("_a158_imax", imax, warmup=_full, units="", formula=""),
        *_family("_a158_imin", imin, warmup=_full, units="", formula=""),
        *_family(
            "IMAX",
            lambda d: _hc(f"imax{d}") * (1 / d),
            warmup=_full,
            units="0..1",
            pointwise=True,
            formula="IdxMax(high, {d}) / {d}: 1-based position of the window's (oldest) highest "
            "high, 1 = oldest row",
        ),
        *_family(
            "IMIN",
            lambda d: _hc(f"imin{d}") * (1 / d),
            warmup=_full,
            units="0..1",
            pointwise=True,
            formula="IdxMin(low, {d}) / {d}: 1-based position of the window's (oldest) lowest low",
        ),
        *_family(
            "IMXD",
            lambda d: (_hc(f"imax{d}") - _hc(f"imin{d}")) * (1 / d),
            warmup=_full,
            units="-1..1",
            pointwise=True,
            formula="(IdxMax(high, {d}) - IdxMin(low, {d})) / {d}",
        ),
        *_family(
            "CORR",
            lambda d: rolling_corr(
                c, _hc("logv"), window=d, x_mean=_hc(f"cmean{d}"), x_std=_hc(f"cstd{d}")
            ),
            warmup=_full,
            units="-1..1",
            formula="Corr(close, Log(volume + 1), {d}); null where either Std <= 2e-5",
        ),
        *_family(
            "CORD",
            lambda d: rolling_corr_of_pairs(_hc("cret"), _hc("vlr"), window=d),
            warmup=_diff,
            units="-1..1",
            formula="Corr(close / close_(t-1), Log(volume / volume_(t-1) + 1), {d}) over the "
            "rows where the volume ratio is defined (previous volume > 0); null where either "
            "Std <= 2e-5",
        ),
        *_family(
            "CNTP",
            lambda d: _hc("up").rolling_mean(d),
            warmup=_diff,
            units="fraction of rows",
            formula="Mean(close > close_(t-1), {d})",
        ),
        *_family(
            "CNTN",
            lambda d: _hc("down").rolling_mean(d),
            warmup=_diff,
            units="fraction of rows",
            formula="Mean(close < close_(t-1), {d})",
        ),
        *_family(
            "CNTD",
            lambda d: pl.col(f"CNTP{d}") - pl.col(f"CNTN{d}"),
            warmup=_diff,
            units="-1..1",
            pointwise=True,
            formula="CNTP{d} - CNTN{d}",
        ),
        *_family(
            "SUMP",
            lambda d: share("gain", "gain", "loss", d),
            warmup=_diff,
            units="0..1",
            formula="Sum(max(close - close_(t-1), 0), {d}) / (Sum(abs(close - close_(t-1)), {d}) "
            "+ 1e-12)",
        ),
        *_family(
            "SUMN",
            lambda d: share("loss", "gain", "loss", d),
            warmup=_diff,
            units="0..1",
            formula="Sum(max(close_(t-1) - close, 0), {d}) / (Sum(abs(close - close_(t-1)), {d}) "
            "+ 1e-12)",
        ),
        *_family(
            "SUMD",
            lambda d: share("net", "gain", "loss", d),
            warmup=_diff,
            units="-1..1",
            formula="(Sum(gains, {d}) - Sum(losses, {d})) / (Sum(abs(close - close_(t-1)), {d}) "
            "+ 1e-12)",
        ),
        *_family(
            "VMA",
            lambda d: v.rolling_mean(d) / (v + _EPS),
            warmup=_full,
            units="ratio to volume",
            formula="Mean(volume, {d}) / (volume + 1e-12)",
        ),
        *_family(
            "VSTD",
            lambda d: v.rolling_std(d) / (v + _EPS),
            warmup=_full,
            units="ratio to volume",
            formula="Std(volume, {d}) / (volume + 1e-12), ddof=1",
        ),
        *_family(
            "WVMA",
            lambda d: _hc("wv").rolling_std(d) / (_hc("wv").rolling_mean(d) + _EPS),
            warmup=_diff,
            units=_R,
            formula="Std(w, {d}) / (Mean(w, {d}) + 1e-12), w = abs(close / close_(t-1) - 1) * "
            "volume",
        ),
        *_family(
            "VSUMP",
            lambda d: share("gain", "vgain", "vloss", d),
            warmup=_diff,
            units="0..1",
            formula="Sum(max(volume - volume_(t-1), 0), {d}) / (Sum(abs(volume - volume_(t-1)), "
            "{d}) + 1e-12)",
        ),
        *_family(
            "VSUMN",
            lambda d: share("loss", "vgain", "vloss", d),
            warmup=_diff,
            units="0..1",
            formula="Sum(max(volume_(t-1) - volume, 0), {d}) / (Sum(abs(volume - volume_(t-1)), "
            "{d}) + 1e-12)",
        ),
        *_family(
            "VSUMD",
            lambda d: share("net", "vgain", "vloss", d),
            warmup=_diff,
            units="-1..1",
            formula="(Sum(volume gains, {d}) - Sum(volume losses, {d})) / (Sum(abs(volume - "
            "volume_(t-1)), {d}) + 1e-12)",
        ),
    ]


def alpha158_features() -> list[Feature]:
    """Qlib's Alpha158 (less VWAP0) in Qlib's order, after the helper columns they read."""
    return [*_helpers(), *_kbar(), *_price(), *_rolling()]
