"""The dense grid: where rows sit, what fills the gaps, and the per-date rank quantile."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from m002.exceptions import SchemaError
from m002.portfolio._panel import quantile_expr, read_panel

D = [dt.date(2024, 1, d) for d in (2, 3, 5)]


def test_rows_sit_on_sorted_dates_and_tickers() -> None:
    frame = pl.DataFrame(
        {"ticker": ["B", "A", "B", "A"], "date": [D[2], D[0], D[0], D[1]], "x": [1.0, 2, 3, 4]}
    )
    panel = read_panel(frame)
    assert (panel.n_dates, panel.n_tickers) == (3, 2)
    assert panel.row_date.tolist() == [2, 0, 0, 1]
    assert panel.row_ticker.tolist() == [1, 0, 1, 0]
    grid = panel.grid(frame["x"].to_numpy())
    np.testing.assert_array_equal(grid, [[2.0, 3.0], [4.0, np.nan], [np.nan, 1.0]])
    assert panel.present().tolist() == [[True, True], [True, False], [False, True]]
    assert panel.rows(grid).tolist() == [1.0, 2.0, 3.0, 4.0]
    assert panel.grid(frame["x"].to_numpy(), fill=0.0)[1, 1] == 0.0


def test_repeated_pairs_are_counted_and_the_first_named() -> None:
    frame = pl.DataFrame({"ticker": ["A", "B", "B", "B"], "date": [D[0], D[1], D[1], D[1]]})
    with pytest.raises(SchemaError, match=r"got 3 rows on repeated pairs \(first: B 2024-01-03\)"):
        read_panel(frame)


def test_null_dates_are_refused() -> None:
    frame = pl.DataFrame(
        {"ticker": ["A"], "date": [None]}, schema={"ticker": pl.String, "date": pl.Date}
    )
    with pytest.raises(SchemaError, match="needs a date on every row, got 1 null date"):
        read_panel(frame)


def test_quantile_is_the_average_rank_among_finite_scores_per_date() -> None:
    frame = pl.DataFrame(
        {
            "date": [D[0]] * 6 + [D[1]] * 2 + [D[2]],
            "s": [3.0, 1.0, 1.0, None, float("nan"), 5.0, 1.0, float("inf"), 2.0],
        }
    )
    q = frame.select(quantile_expr("s")).to_series().to_list()
    # date 0: finite 3, 1, 1, 5 -> ranks 3, 1.5, 1.5, 4 -> (rank - 1) / 3
    assert q[:6] == [2 / 3, 0.5 / 3, 0.5 / 3, None, None, 1.0]
    # date 1: one finite score, date 2: one score: no rank
    assert q[6:] == [None, None, None]
