"""Sequences for layer 1: the one polars -> numpy boundary.

A `SequenceSet` holds the feature matrix once, as one contiguous float32 array with a row per
(ticker, date), and describes each window by the index of its last row. A window of ``seq_len``
rows is ``features[end - seq_len + 1 : end + 1]``: a view, never a copy, so building the set for
the whole S&P sample costs about one feature matrix of memory, not ``seq_len`` of them.

A window never crosses a ticker, a gap in the dates longer than ``max_gap_days`` calendar days,
or a row with a null or non-finite feature: each of those starts a new run, and runs shorter than
``seq_len`` give no window. The longest run is kept with the set (`SequenceSet.longest_run`), so
that a caller finding no windows can say how long a ``seq_len`` the data would allow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from m002._polars import collect
from m002._schema import DATE, TICKER, require_columns
from m002.exceptions import ConfigError, SchemaError

__all__ = ["SequenceSet", "build_sequences", "longest_usable_run", "window_indices"]


@dataclass(frozen=True, eq=False)
class SequenceSet:
    """Windows over one contiguous feature matrix.

    Attributes
    ----------
    features : np.ndarray
        ``(n_rows, n_features)`` float32, C-contiguous; one row per input row, NaN where a
        feature was null.
    ends : np.ndarray
        ``(n_windows,)`` int64 row index of each window's last row (its date is the window's
        date), increasing.
    labels : np.ndarray or None
        ``(n_windows,)`` int64 label of each window's last row, when a label column was given.
    keys : pl.DataFrame
        ticker and date of every input row (``n_rows`` rows), to map windows back to dates.
    seq_len : int
    feature_names : list of str
    longest_run : int
        Rows of the longest run of clean rows (one ticker, no date gap, no null feature) in the
        feature matrix: the largest ``seq_len`` that would give a window at all.
    """

    features: np.ndarray
    ends: np.ndarray
    labels: np.ndarray | None
    keys: pl.DataFrame
    seq_len: int
    feature_names: list[str]
    longest_run: int = 0

    def __len__(self) -> int:
        return int(self.ends.size)

    def require_labels(self) -> np.ndarray:
        """``labels``, or a clear error for a set built without a label column."""
        if self.labels is None:
            msg = "this SequenceSet has no labels: build it with `label_column=`"
            raise SchemaError(msg)
        return self.labels

    def window(self, i: int) -> np.ndarray:
        """The ``(seq_len, n_features)`` view of window ``i``."""
        end = int(self.ends[i])
        return self.features[end - self.seq_len + 1 : end + 1]

    def end_dates(self) -> pl.Series:
        """Date of each window (its last row)."""
        return self.keys[DATE].gather(self.ends)

    def subset(self, mask: np.ndarray) -> SequenceSet:
        """The windows where ``mask`` is true, over the same feature matrix (no copy of it)."""
        return SequenceSet(
            features=self.features,
            ends=self.ends[mask],
            labels=None if self.labels is None else self.labels[mask],
            keys=self.keys,
            seq_len=self.seq_len,
            feature_names=self.feature_names,
            longest_run=self.longest_run,
        )


def window_indices(ends: np.ndarray, seq_len: int) -> np.ndarray:
    """``(n, seq_len)`` row indices of the windows ending at ``ends``, oldest row first."""
    return ends[:, None] + np.arange(1 - seq_len, 1, dtype=np.int64)[None, :]


def build_sequences(
    frame: pl.DataFrame | pl.LazyFrame,
    feature_columns: Sequence[str],
    *,
    seq_len: int = 20,
    max_gap_days: int = 7,
    label_column: str | None = None,
) -> SequenceSet:
    """Index every window of ``seq_len`` clean rows in ``frame``.

    Parameters
    ----------
    frame : pl.DataFrame or pl.LazyFrame
        ticker, date, the feature columns and optionally ``label_column``; sorted here.
    feature_columns : sequence of str
        Columns of the feature matrix, in this order.
    seq_len : int
        Rows per window (>= 2).
    max_gap_days : int
        A jump of more than this many calendar days between consecutive rows of a ticker
        starts a new run.
    label_column : str, optional
        When given, only windows whose last row has a non-null label are kept, and
        ``labels`` holds those labels.

    Returns
    -------
    SequenceSet

    Raises
    ------
    ConfigError
        ``seq_len < 2`` or ``max_gap_days < 1``.
    SchemaError
        A feature or label column is missing.
    """
    if seq_len < 2:
        msg = f"`seq_len` must be >= 2, got `seq_len={seq_len}`"
        raise ConfigError(msg)
    if max_gap_days < 1:
        msg = f"`max_gap_days` must be >= 1, got `max_gap_days={max_gap_days}`"
        raise ConfigError(msg)
    lazy = frame.lazy()
    wanted = [TICKER, DATE, *feature_columns, *([label_column] if label_column else [])]
    require_columns(lazy, wanted, needed_by="build_sequences", hint="check `feature_columns`")
    cols = list(feature_columns)
    # cast inside the plan so that float64 copies of the features are never materialised
    table = collect(
        _with_runs(
            lazy.select(
                TICKER,
                DATE,
                pl.col(cols).cast(pl.Float32),
                *([pl.col(label_column)] if label_column else []),
            ),
            cols,
            max_gap_days,
        )
    )
    usable = table["_clean"] & (table["_pos"] >= seq_len - 1)
    if label_column is not None:
        usable = usable & table[label_column].is_not_null()
    ends = np.flatnonzero(usable.to_numpy()).astype(np.int64)
    # one row-major copy, straight from the float32 columns
    matrix = table.select(cols).to_numpy(order="c")
    labels = None
    if label_column is not None:
        labels = table[label_column].gather(ends).cast(pl.Int64).to_numpy()
    return SequenceSet(
        features=matrix,
        ends=ends,
        labels=labels,
        keys=table.select(TICKER, DATE),
        seq_len=seq_len,
        feature_names=cols,
        longest_run=_longest(table),
    )


def _with_runs(lazy: pl.LazyFrame, cols: list[str], max_gap_days: int) -> pl.LazyFrame:
    """Sorted rows with ``_clean`` (every feature finite), ``_run`` (run id) and ``_pos``
    (row's position in its run, from 0)."""
    clean = pl.all_horizontal(pl.col(c).is_finite().fill_null(False) for c in cols)
    new_run = (
        (pl.col(TICKER) != pl.col(TICKER).shift(1)).fill_null(True)
        | ((pl.col(DATE) - pl.col(DATE).shift(1)).dt.total_days() > max_gap_days).fill_null(True)
        | ~clean
        | ~clean.shift(1).fill_null(False)
    )
    return (
        lazy.sort(TICKER, DATE)
        .with_columns(_clean=clean, _run=new_run.cum_sum())
        .with_columns(_pos=pl.int_range(pl.len()).over("_run"))
    )


def _longest(table: pl.DataFrame) -> int:
    longest = table.select(pl.col("_pos").filter("_clean").max() + 1).item()
    return int(longest or 0)


def longest_usable_run(
    frame: pl.DataFrame | pl.LazyFrame,
    feature_columns: Sequence[str],
    *,
    max_gap_days: int = 7,
) -> int:
    """Rows of the longest run that `build_sequences` would find: the largest ``seq_len``
    that gives at least one window (0 when no row is clean).

    Parameters
    ----------
    frame : pl.DataFrame or pl.LazyFrame
        ticker, date and the feature columns.
    feature_columns : sequence of str
    max_gap_days : int
        As in `build_sequences`.

    Examples
    --------
    >>> import datetime as dt
    >>> frame = pl.DataFrame({
    ...     "ticker": ["A"] * 4 + ["B"] * 2,
    ...     "date": [dt.date(2024, 1, d) for d in (1, 2, 3, 4, 1, 2)],
    ...     "x": [1.0, None, 2.0, 3.0, 4.0, 5.0],
    ... })
    >>> longest_usable_run(frame, ["x"])
    2
    """
    lazy = frame.lazy()
    cols = list(feature_columns)
    require_columns(
        lazy, [TICKER, DATE, *cols], needed_by="longest_usable_run", hint="check `feature_columns`"
    )
    runs = _with_runs(lazy.select(TICKER, DATE, *cols), cols, max_gap_days)
    return _longest(collect(runs.select("_clean", "_pos")))
