"""The compiled rolling quantiles: polars' linear rolling quantile bit for bit, an exact
function of each window's rows, null for a window holding a missing value."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m002.exceptions import ConfigError
from m002.features._quantile import rolling_quantile_fields, rolling_quantiles

LEVELS = np.array([0.8, 0.2, 0.0, 0.5, 1.0])

# few distinct values, so that windows hold ties; NaN now and then
values_ = st.lists(
    st.one_of(
        st.sampled_from([1.0, 2.0, 2.5, -3.0, 100.25]),
        st.floats(-1e6, 1e6, allow_nan=False),
        st.just(float("nan")),
    ),
    min_size=0,
    max_size=80,
)


def polars_quantile(values: np.ndarray, window: int, q: float) -> np.ndarray:
    series = pl.Series(values, nan_to_null=True)
    return series.rolling_quantile(q, "linear", window).fill_null(np.nan).to_numpy()


@settings(max_examples=200, deadline=None)
@given(values=values_, window=st.integers(1, 12))
def test_equals_polars_rolling_quantile(values: list[float], window: int) -> None:
    x = np.array(values, dtype=np.float64)
    out = rolling_quantiles(x, window, LEVELS)
    assert out.shape == (LEVELS.size, x.size)
    for j, q in enumerate(LEVELS):
        expected = polars_quantile(x, window, q)
        np.testing.assert_array_equal(out[j], expected, err_msg=f"q={q}, window={window}")


@settings(max_examples=100, deadline=None)
@given(values=values_, window=st.integers(1, 12), start=st.integers(0, 40))
def test_a_row_depends_on_its_window_only(values: list[float], window: int, start: int) -> None:
    """Computed on the column from ``start`` on, every full window gives the same bits."""
    x = np.array(values, dtype=np.float64)
    whole = rolling_quantiles(x, window, LEVELS)
    tail = rolling_quantiles(x[start:], window, LEVELS)
    np.testing.assert_array_equal(tail[:, window - 1 :], whole[:, start + window - 1 :])


def test_windows_with_a_missing_value_are_null_and_others_are_not() -> None:
    x = np.array([1.0, 2.0, 3.0, np.nan, 5.0, 6.0, 7.0, 8.0])
    frame = pl.DataFrame({"x": pl.Series(x, nan_to_null=True)})
    got = frame.select(rolling_quantile_fields(pl.col("x"), 3, [("hi", 0.8), ("lo", 0.2)]))
    hi = got["x"].struct.field("hi")
    lo = got["x"].struct.field("lo")
    # windows ending on rows 2 and 6..7 are complete; rows 3..5 hold the missing row 3
    assert hi.is_null().to_list() == [True, True, False, True, True, True, False, False]
    assert (hi[2], lo[2]) == (2.6, 1.4)  # of 1, 2, 3: 1 + 0.8 * 2 and 1 + 0.2 * 2
    assert (hi[7], lo[7]) == (6 + 0.8 * 2, 6 + 0.2 * 2)
    assert got.schema["x"] == pl.Struct({"hi": pl.Float64, "lo": pl.Float64})


@pytest.mark.parametrize(
    ("window", "levels", "name"),
    [
        (0, [0.5], "window"),
        (2.5, [0.5], "window"),
        (3, [1.2], "quantiles"),
        (3, [-0.1, 0.5], "quantiles"),
        (3, [float("nan")], "quantiles"),
    ],
)
def test_a_bad_window_or_level_is_named_before_the_compiled_loop(
    window: object, levels: list[float], name: str
) -> None:
    with pytest.raises(ConfigError, match=f"`{name}`"):
        rolling_quantiles(np.arange(10.0), window, np.array(levels))  # type: ignore[arg-type]
