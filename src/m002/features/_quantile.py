"""Rolling quantiles of a column in one compiled pass per window.

Alpha158's ``QTLU`` and ``QTLD`` take the 0.8 and 0.2 quantiles of the closes over five
windows. Polars' ``rolling_quantile`` costs some 35 ns a row for each of those ten features
(more over a whole column); here one pass per window keeps the window's values sorted as it
slides (the row that leaves is found by bisection and the row that enters moves to its place,
shifting only the values between the two), and reads both quantiles from the sorted values:
about 25 ns a row for 5 rows and 70 for 60 (`benchmarks/bench_features.py` has the whole
build).

The value of a row is an exact function of its window's rows (the sorted window is the
window's values whatever came before it), so the feature engine may run it over the whole
column (``exact_window``): a row whose window reaches the ticker before is nulled by the
warm-up. Interpolation is linear between order statistics, as pandas' and polars' ``"linear"``:
``s[i] + (s[i + 1] - s[i]) * f`` at position ``q * (window - 1) = i + f``; a test holds the two
equal bit for bit. A window holding a missing value (null or NaN) gives null.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from m002._checks import check_int
from m002.exceptions import ConfigError

__all__ = ["quantile_fields_dtype", "rolling_quantile_fields", "rolling_quantiles"]


def rolling_quantiles(values: np.ndarray, window: int, quantiles: np.ndarray) -> np.ndarray:
    """``out[j, t]``: the ``quantiles[j]`` quantile (linear interpolation) of
    ``values[t - window + 1 : t + 1]``; NaN before the first full window and for a window
    holding a NaN. Compiled on the first call (numba, cached on disk).

    Raises
    ------
    ConfigError
        If ``window`` is not an int >= 1 or a quantile is not in [0, 1] (the compiled loop
        does not check its indices).
    """
    check_int("window", window, 1)
    levels = np.asarray(quantiles, dtype=np.float64)
    if not np.all((levels >= 0) & (levels <= 1)):  # NaN fails too
        msg = f"`quantiles` must be in [0, 1], got `quantiles={levels.tolist()!r}`"
        raise ConfigError(msg)
    return _compiled()(np.ascontiguousarray(values, dtype=np.float64), window, levels)


@functools.cache
def _compiled() -> Callable[[np.ndarray, int, np.ndarray], np.ndarray]:
    """`_sorted_window_quantiles` compiled. numba is imported here rather than with the
    package, so that a command that never builds Alpha158 does not pay for its import."""
    import numba

    compiled: Callable[[np.ndarray, int, np.ndarray], np.ndarray]
    compiled = numba.njit(nogil=True, cache=True)(_sorted_window_quantiles)
    return compiled


def _sorted_window_quantiles(
    values: np.ndarray, window: int, quantiles: np.ndarray
) -> np.ndarray:  # pragma: no cover - runs compiled
    """The loop behind `rolling_quantiles`, in the part of Python that numba compiles."""
    n = values.size
    out = np.full((quantiles.size, n), np.nan)
    low = np.empty(quantiles.size, np.int64)
    high = np.empty(quantiles.size, np.int64)
    frac = np.empty(quantiles.size)
    for j in range(quantiles.size):
        position = quantiles[j] * (window - 1)
        low[j] = int(np.floor(position))
        frac[j] = position - low[j]
        high[j] = min(low[j] + 1, window - 1)
    window_sorted = np.empty(window)
    size = 0  # the window's values that are not NaN, sorted in window_sorted[:size]
    nans = 0
    for t in range(n):
        new = values[t]
        new_in = new == new
        if not new_in:
            nans += 1
        old = values[t - window] if t >= window else np.nan
        old_in = old == old
        if t >= window and not old_in:
            nans -= 1
        i = size  # where the leaving value is: the first sorted value not below it
        if old_in:
            lo, hi = 0, size
            while lo < hi:
                mid = (lo + hi) >> 1
                if window_sorted[mid] < old:
                    lo = mid + 1
                else:
                    hi = mid
            i = lo
        if old_in and new_in:  # new takes old's place and moves to its own
            if new > old:
                while i + 1 < size and window_sorted[i + 1] < new:
                    window_sorted[i] = window_sorted[i + 1]
                    i += 1
            else:
                while i > 0 and window_sorted[i - 1] > new:
                    window_sorted[i] = window_sorted[i - 1]
                    i -= 1
            window_sorted[i] = new
        else:
            if old_in:
                window_sorted[i : size - 1] = window_sorted[i + 1 : size].copy()
                size -= 1
            if new_in:
                i = size
                while i > 0 and window_sorted[i - 1] > new:
                    window_sorted[i] = window_sorted[i - 1]
                    i -= 1
                window_sorted[i] = new
                size += 1
        if t >= window - 1 and nans == 0:
            for j in range(quantiles.size):
                below = window_sorted[low[j]]
                out[j, t] = below + (window_sorted[high[j]] - below) * frac[j]
    return out


def quantile_fields_dtype(quantiles: Sequence[tuple[str, float]]) -> pl.Struct:
    """The struct type `rolling_quantile_fields` gives: one Float64 field per name."""
    return pl.Struct(dict.fromkeys((name for name, _ in quantiles), pl.Float64))


def rolling_quantile_fields(
    column: pl.Expr, window: int, quantiles: Sequence[tuple[str, float]]
) -> pl.Expr:
    """A struct column with one Float64 field per ``(name, q)`` of ``quantiles``: the ``q``
    quantile of ``column`` over the last ``window`` rows (null before the first full window
    of the column it runs over, and for windows holding a missing value)."""
    names = [name for name, _ in quantiles]
    levels = np.array([q for _, q in quantiles], dtype=np.float64)

    def compute(series: pl.Series) -> pl.Series:
        values = series.cast(pl.Float64).to_numpy()
        out = rolling_quantiles(values, window, levels)
        rows = zip(names, out, strict=True)
        fields = [pl.Series(name, row, nan_to_null=True) for name, row in rows]
        return pl.struct(fields, eager=True).alias(series.name)

    return column.map_batches(compute, return_dtype=quantile_fields_dtype(quantiles))
