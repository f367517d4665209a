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

How it is computed, with no Python callback per row or window:

- Every windowed sum (of closes, row x close, log volumes, volumes, gains and losses, their
  squares and products) is added up in a fixed order from shifted columns: 5 rows, then each
  longer window as the sum of two consecutive shorter ones (10 = 5 + 5, 20 = 10 + 10,
  30 = 10 + 20, 60 = 30 + 30). Such a sum is an exact function of its window's rows, so it
  runs over the whole column at once (`m002.features._engine`, ``exact_window``), where a
  sliding sum would need a pass per ticker. Means, regressions, correlations and the sds of
  volumes, log volumes and returns come from these sums (CORD's return less 1, so that its
  sums of squares keep their digits); the closes' sd is a rolling sd per ticker, which loses
  no digits to the price level and gives exactly 0 on equal closes.
- Ranks are counts of signs of differences with shifted columns; ``IdxMax``/``IdxMin`` and
  the highest high and lowest low of 5 rows come from shifted columns or a rolling extreme,
  and those of 10, 20, 30 and 60 rows by merging two shorter windows.
- Both quantiles of a window come from one compiled pass over the whole column that keeps
  the window sorted (`m002.features._quantile`): an exact function of the window's rows.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from functools import reduce
from typing import Final

import polars as pl

from m002.features._engine import ROW_IN_TICKER, Feature
from m002.features._quantile import quantile_fields_dtype, rolling_quantile_fields

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


def time_sum_of_squares(window: int) -> float:
    """``sum_k (x_k - mean x)^2`` for ``x = 1..window``."""
    return window * (window * window - 1) / 12


def sample_sd(total: pl.Expr, squares: pl.Expr, count: int) -> pl.Expr:
    """Sample standard deviation (ddof=1) of ``count`` values from their sum and the sum of
    their squares; 0 where rounding leaves a negative sum of squared deviations. For series
    whose mean is not far larger than their spread (volumes, log volumes, returns): the
    closes' own sd comes from a rolling sd, which does not lose digits to a large mean."""
    deviations = (squares - total * total * (1 / count)).clip(lower_bound=0.0)
    return (deviations * (1 / (count - 1))).sqrt()


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


def _sum(name: str, d: int) -> pl.Expr:
    """Sum of series ``name`` (`_SUMMED`) over the last ``d`` rows."""
    return _hc(f"{name}_s{d}")


def _pairs() -> dict[str, tuple[pl.Expr, int]]:
    """CORD's series: over the rows where both the close ratio and the log volume ratio are
    defined, the count, the ratio less 1 (centred, so that sums of squares keep their
    digits), the log volume ratio and their products (0 elsewhere); and over every row the
    ratio less 1 and its square, for its own flatness."""
    both = _hc("cret").is_not_null() & _hc("vlr").is_not_null()
    x = pl.when(both).then(_hc("cret") - 1.0).otherwise(0.0)
    y = pl.when(both).then(_hc("vlr")).otherwise(0.0)
    every = _hc("cret") - 1.0
    return {
        "pn": (both.cast(pl.Float64), 1),
        "px": (x, 1),
        "py": (y, 1),
        "pxx": (x * x, 1),
        "pyy": (y * y, 1),
        "pxy": (x * y, 1),
        "ax": (every, 1),
        "axx": (every * every, 1),
    }


def _summed() -> dict[str, tuple[pl.Expr, int]]:
    """Every series summed over each window, with its warm-up: ``name -> (expr, warmup)``."""
    row = pl.col(ROW_IN_TICKER).cast(pl.Float64)
    logv = (v + 1).log()
    wv = (_hc("cret") - 1).abs() * v
    return {
        "c": (c, 0),
        "rc": (row * c, 0),
        "lv": (logv, 0),
        "lv2": (logv * logv, 0),
        "clv": (c * logv, 0),
        "v": (v, 0),
        "v2": (v * v, 0),
        "wv": (wv, 1),
        "wv2": (wv * wv, 1),
        "up": ((_hc("dc") > 0).cast(pl.Float64), 1),
        "down": ((_hc("dc") < 0).cast(pl.Float64), 1),
        "gain": (_hc("dc").clip(lower_bound=0.0), 1),
        "loss": ((-_hc("dc")).clip(lower_bound=0.0), 1),
        "vgain": (_hc("dv").clip(lower_bound=0.0), 1),
        "vloss": ((-_hc("dv")).clip(lower_bound=0.0), 1),
        **_pairs(),
    }


def _helpers() -> list[Feature]:
    """Per-row inputs shared by several families, their sums over each window, the rolling
    extremes, the closes' rolling sd and quantiles."""
    prev_c, prev_v = c.shift(1), v.shift(1)
    log_ratio = (v / prev_v + 1).log()
    out = [
        Feature(_h("dc"), c - prev_c, warmup=1, exact_window=True),
        Feature(_h("dv"), v - prev_v, warmup=1, exact_window=True),
        Feature(_h("cret"), c / prev_c, warmup=1, exact_window=True),
        Feature(_h("vlr"), pl.when(prev_v != 0).then(log_ratio), warmup=1, exact_window=True),
    ]
    summed = _summed()
    out += [
        Feature(_h(name), expr, warmup=warmup, pointwise=True)
        for name, (expr, warmup) in summed.items()
        if not expr.meta.is_column()  # an input column is summed as it is
    ]
    for d in ALPHA158_WINDOWS:
        out += [
            Feature(_h(f"{name}_s{d}"), _window_sum(name, expr, d), warmup=warmup + d - 1,
                    exact_window=True)
            for name, (expr, warmup) in summed.items()
        ]  # fmt: skip
        out += [
            Feature(_h(f"hmax{d}"), _window_extreme(h, "hmax", d, top=True), warmup=d - 1,
                    exact_window=True),
            Feature(_h(f"lmin{d}"), _window_extreme(lo, "lmin", d, top=False), warmup=d - 1,
                    exact_window=True),
            Feature(_h(f"cstd{d}"), c.rolling_std(d), warmup=d - 1),
            Feature(_h(f"cmean{d}"), _sum("c", d) * (1 / d), warmup=d - 1, pointwise=True),
            Feature(_h(f"qtl{d}"), _quantiles(d), warmup=d - 1, exact_window=True,
                    dtype=quantile_fields_dtype(_QUANTILES)),
        ]  # fmt: skip
    # sign counts of close against the last 4, 9, 19, 29, 59 rows, each from the previous
    previous = 1
    for d in ALPHA158_WINDOWS:
        count = sign_count(c, lags=range(previous, d))
        if previous > 1:
            count = _hc(f"sgn{previous}") + count
        out.append(Feature(_h(f"sgn{d}"), count, warmup=d - 1, exact_window=True))
        previous = d
    return out


_QUANTILES: Final = (("upper", 0.8), ("lower", 0.2))
"""The quantiles of QTLU and QTLD, by the field of the helper column that holds them."""


def _quantiles(d: int) -> pl.Expr:
    """The 0.8 (``upper``) and 0.2 (``lower``) quantiles of the closes over ``d`` rows."""
    return rolling_quantile_fields(c, d, _QUANTILES)


def _window_extreme(column: pl.Expr, name: str, d: int, *, top: bool) -> pl.Expr:
    """Highest (``top``) or lowest value of ``column`` over ``d`` rows: a rolling max or min
    over 5 rows, longer windows as the extreme of two consecutive shorter ones (exact, and
    cheaper than a rolling extreme of each length)."""
    if d not in _HALVES:
        return column.rolling_max(d) if top else column.rolling_min(d)
    older, newer = _HALVES[d]
    parts = [_hc(f"{name}{older}").shift(newer), _hc(f"{name}{newer}")]
    return pl.max_horizontal(parts) if top else pl.min_horizontal(parts)


def _window_sum(name: str, expr: pl.Expr, d: int) -> pl.Expr:
    """Sum of series ``name`` (``expr``: its helper column, or an input column as it is)
    over ``d`` rows, in a fixed order (an exact function of the window's rows, unlike a
    sliding sum, which keeps the rounding residue of rows that left it: a window of no
    gains gives exactly 0): 5 rows added up, longer windows as the sum of two consecutive
    shorter ones."""
    if d not in _HALVES:
        series = expr if expr.meta.is_column() else _hc(name)
        return reduce(operator.add, [series.shift(k) for k in range(d)])
    older, newer = _HALVES[d]
    return _sum(name, older).shift(newer) + _sum(name, newer)


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
    exact_window: bool = False,
) -> list[Feature]:
    """``name<d>`` for each window ``d``: ``expr(d)`` with warm-up ``warmup(d)``, ``formula``
    with ``{d}`` placeholders."""
    return [
        Feature(
            f"{name}{d}",
            expr(d),
            warmup=warmup(d),
            pointwise=pointwise,
            exact_window=exact_window,
            units=units,
            formula=formula.format(d=d),
        )
        for d in ALPHA158_WINDOWS
    ]


def _regression(d: int) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """BETA, RSQR and RESI of window ``d``: the slope's numerator ``sum_k (x_k - mean x) *
    close_k`` (``x`` the row number) from the sums of ``row * close`` and of close."""
    row = pl.col(ROW_IN_TICKER).cast(pl.Float64)
    sxy = _sum("rc", d) - (row - (d - 1) / 2) * _sum("c", d)
    sxx = time_sum_of_squares(d)
    std = _hc(f"cstd{d}")
    slope = sxy * (1 / sxx)
    rsquare = pl.when(std > _FLAT_STD).then(sxy * sxy / (sxx * std * std * (d - 1)))
    resi = c - (_hc(f"cmean{d}") + slope * ((d - 1) / 2))
    return slope / c, rsquare, resi / c


def _corr(d: int) -> pl.Expr:
    """``Corr(close, Log(volume + 1), d)``, null where either sd is at most Qlib's
    flatness tolerance."""
    y_mean = _sum("lv", d) * (1 / d)
    y_std = sample_sd(_sum("lv", d), _sum("lv2", d), d)
    x_std = _hc(f"cstd{d}")
    products = _sum("clv", d) - _sum("c", d) * y_mean
    corr = products / (x_std * y_std) * (1 / (d - 1))
    return pl.when((x_std > _FLAT_STD) & (y_std > _FLAT_STD)).then(corr)


def _cord(d: int) -> pl.Expr:
    """Pearson's correlation of the close ratio and the log volume ratio over the rows of
    the window where both are defined, as pandas, and so Qlib, computes it: null where fewer
    than 2 such rows remain, or where the sd of the ratio (all its rows) or of the log volume
    ratio (its defined rows) is at most Qlib's flatness tolerance."""
    n, sx, sy = _sum("pn", d), _sum("px", d), _sum("py", d)
    products = _sum("pxy", d) - sx * sy / n
    x_squares = (_sum("pxx", d) - sx * sx / n).clip(lower_bound=0.0)
    y_squares = (_sum("pyy", d) - sy * sy / n).clip(lower_bound=0.0)
    y_std = (y_squares / (n - 1)).sqrt()
    flat_x = sample_sd(_sum("ax", d), _sum("axx", d), d) <= _FLAT_STD
    corr = products / (x_squares * y_squares).sqrt()
    return pl.when((n >= 2) & ~flat_x & (y_std > _FLAT_STD)).then(corr)


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
            "ROC",
            lambda d: c.shift(d) / c,
            warmup=_diff,
            units=_P,
            exact_window=True,
            formula="close_(t-{d}) / close",
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
            lambda d: _hc(f"qtl{d}").struct.field("upper") / c,
            warmup=_full,
            units=_P,
            pointwise=True,
            formula="Quantile(close, {d}, 0.8) / close, linear interpolation",
        ),
        *_family(
            "QTLD",
            lambda d: _hc(f"qtl{d}").struct.field("lower") / c,
            warmup=_full,
            units=_P,
            pointwise=True,
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
        *_family("_a158_imax", imax, warmup=_full, units="", formula="", exact_window=True),
        *_family("_a158_imin", imin, warmup=_full, units="", formula="", exact_window=True),
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
            _corr,
            warmup=_full,
            units="-1..1",
            pointwise=True,
            formula="Corr(close, Log(volume + 1), {d}); null where either Std <= 2e-5",
        ),
        *_family(
            "CORD",
            _cord,
            warmup=_diff,
            units="-1..1",
            pointwise=True,
            formula="Corr(close / close_(t-1), Log(volume / volume_(t-1) + 1), {d}) over the "
            "rows where the volume ratio is defined (previous volume > 0); null where either "
            "Std <= 2e-5",
        ),
        *_family(
            "CNTP",
            lambda d: _sum("up", d) * (1 / d),
            warmup=_diff,
            units="fraction of rows",
            pointwise=True,
            formula="Mean(close > close_(t-1), {d})",
        ),
        *_family(
            "CNTN",
            lambda d: _sum("down", d) * (1 / d),
            warmup=_diff,
            units="fraction of rows",
            pointwise=True,
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
            pointwise=True,
            formula="Sum(max(close - close_(t-1), 0), {d}) / (Sum(abs(close - close_(t-1)), {d}) "
            "+ 1e-12)",
        ),
        *_family(
            "SUMN",
            lambda d: share("loss", "gain", "loss", d),
            warmup=_diff,
            units="0..1",
            pointwise=True,
            formula="Sum(max(close_(t-1) - close, 0), {d}) / (Sum(abs(close - close_(t-1)), {d}) "
            "+ 1e-12)",
        ),
        *_family(
            "SUMD",
            lambda d: share("net", "gain", "loss", d),
            warmup=_diff,
            units="-1..1",
            pointwise=True,
            formula="(Sum(gains, {d}) - Sum(losses, {d})) / (Sum(abs(close - close_(t-1)), {d}) "
            "+ 1e-12)",
        ),
        *_family(
            "VMA",
            lambda d: _sum("v", d) * (1 / d) / (v + _EPS),
            warmup=_full,
            units="ratio to volume",
            pointwise=True,
            formula="Mean(volume, {d}) / (volume + 1e-12)",
        ),
        *_family(
            "VSTD",
            lambda d: sample_sd(_sum("v", d), _sum("v2", d), d) / (v + _EPS),
            warmup=_full,
            units="ratio to volume",
            pointwise=True,
            formula="Std(volume, {d}) / (volume + 1e-12), ddof=1",
        ),
        *_family(
            "WVMA",
            lambda d: (
                sample_sd(_sum("wv", d), _sum("wv2", d), d) / (_sum("wv", d) * (1 / d) + _EPS)
            ),
            warmup=_diff,
            units=_R,
            pointwise=True,
            formula="Std(w, {d}) / (Mean(w, {d}) + 1e-12), w = abs(close / close_(t-1) - 1) * "
            "volume",
        ),
        *_family(
            "VSUMP",
            lambda d: share("gain", "vgain", "vloss", d),
            warmup=_diff,
            units="0..1",
            pointwise=True,
            formula="Sum(max(volume - volume_(t-1), 0), {d}) / (Sum(abs(volume - volume_(t-1)), "
            "{d}) + 1e-12)",
        ),
        *_family(
            "VSUMN",
            lambda d: share("loss", "vgain", "vloss", d),
            warmup=_diff,
            units="0..1",
            pointwise=True,
            formula="Sum(max(volume_(t-1) - volume, 0), {d}) / (Sum(abs(volume - volume_(t-1)), "
            "{d}) + 1e-12)",
        ),
        *_family(
            "VSUMD",
            lambda d: share("net", "vgain", "vloss", d),
            warmup=_diff,
            units="-1..1",
            pointwise=True,
            formula="(Sum(volume gains, {d}) - Sum(volume losses, {d})) / (Sum(abs(volume - "
            "volume_(t-1)), {d}) + 1e-12)",
        ),
    ]


def alpha158_features() -> list[Feature]:
    """Qlib's Alpha158 (less VWAP0) in Qlib's order, after the helper columns they read."""
    return [*_helpers(), *_kbar(), *_price(), *_rolling()]
