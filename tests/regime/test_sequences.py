from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from m002.exceptions import ConfigError, SchemaError
from m002.regime import build_sequences, longest_usable_run, time_split, window_indices


@pytest.fixture
def tiny() -> pl.DataFrame:
    # A: 4 consecutive days, a 16-day gap, 2 more; B: a null feature on its second row
    days_a = [date(2020, 1, d) for d in (1, 2, 3, 6, 22, 23)]
    days_b = [date(2020, 1, d) for d in (1, 2, 3, 6, 7)]
    return pl.DataFrame(
        {
            "ticker": ["A"] * 6 + ["B"] * 5,
            "date": days_a + days_b,
            "x": [1.0, 2, 3, 4, 5, 6, 7, None, 9, 10, 11],
            "y": [0.0, 1, 2, 3, 4, 5, 6, 7, 8, 9, float("inf")],
            "label": [0, 1, None, 3, 4, 0, 1, 2, 3, 4, 0],
        }
    )


def test_exact_window_ends_with_gap_null_and_two_tickers(tiny: pl.DataFrame) -> None:
    seqs = build_sequences(tiny.sample(fraction=1, shuffle=True, seed=1), ["x", "y"], seq_len=2)
    # A: rows 0-3 one run (the weekend is no gap), rows 4-5 a second run after the gap;
    # B: row 7 null and row 10 infinite break the runs, leaving rows 8-9
    np.testing.assert_array_equal(seqs.ends, [1, 2, 3, 5, 9])
    np.testing.assert_array_equal(
        window_indices(seqs.ends, 2), [[0, 1], [1, 2], [2, 3], [4, 5], [8, 9]]
    )
    assert seqs.features.dtype == np.float32
    assert seqs.features.flags["C_CONTIGUOUS"]
    assert seqs.features.shape == (11, 2)


def test_longer_windows_and_labels(tiny: pl.DataFrame) -> None:
    seqs = build_sequences(tiny, ["x", "y"], seq_len=3, label_column="label")
    np.testing.assert_array_equal(seqs.ends, [3])  # row 2 has no label; 3 rows end at 2 and 3
    np.testing.assert_array_equal(seqs.require_labels(), [3])
    assert seqs.end_dates().to_list() == [date(2020, 1, 6)]


def test_gap_threshold_is_configurable(tiny: pl.DataFrame) -> None:
    seqs = build_sequences(tiny, ["x"], seq_len=2, max_gap_days=30)
    np.testing.assert_array_equal(seqs.ends, [1, 2, 3, 4, 5, 9, 10])


def test_windows_are_views_of_one_matrix(tiny: pl.DataFrame) -> None:
    seqs = build_sequences(tiny, ["x", "y"], seq_len=2)
    assert np.shares_memory(seqs.window(0), seqs.features)
    np.testing.assert_array_equal(seqs.window(3), [[5.0, 4.0], [6.0, 5.0]])
    sub = seqs.subset(seqs.ends > 2)
    assert sub.features is seqs.features
    assert sub.ends.tolist() == [3, 5, 9]


@pytest.mark.parametrize(
    ("columns", "max_gap_days", "longest"),
    [
        (["x", "y"], 7, 4),  # A's first four rows
        (["x", "y"], 2, 3),  # Friday -> Monday now breaks A's run
        (["x"], 30, 6),  # all of A: neither the 16-day gap nor B's infinite y counts
    ],
)
def test_longest_usable_run(
    tiny: pl.DataFrame, columns: list[str], max_gap_days: int, longest: int
) -> None:
    assert longest_usable_run(tiny, columns, max_gap_days=max_gap_days) == longest
    seqs = build_sequences(tiny, columns, seq_len=2, max_gap_days=max_gap_days)
    assert seqs.longest_run == longest
    assert seqs.subset(seqs.ends > 2).longest_run == longest
    # the longest run is exactly the largest seq_len that still gives a window
    assert len(build_sequences(tiny, columns, seq_len=longest, max_gap_days=max_gap_days)) > 0
    assert len(build_sequences(tiny, columns, seq_len=longest + 1, max_gap_days=max_gap_days)) == 0


def test_longest_usable_run_of_nothing_clean(tiny: pl.DataFrame) -> None:
    assert longest_usable_run(tiny.with_columns(x=None), ["x"]) == 0


def test_bad_arguments_name_the_parameter(tiny: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="`seq_len` must be >= 2, got `seq_len=1`"):
        build_sequences(tiny, ["x"], seq_len=1)
    with pytest.raises(SchemaError, match=r"\['nope'\]"):
        build_sequences(tiny, ["x", "nope"])
    with pytest.raises(SchemaError, match="no labels"):
        build_sequences(tiny, ["x"]).require_labels()


def test_time_split_exact_masks_and_purge_gap() -> None:
    positions = np.arange(20)
    train, valid, start = time_split(positions, 20, valid_fraction=0.25, gap=3)
    assert start == 15
    np.testing.assert_array_equal(np.flatnonzero(train), np.arange(0, 12))
    np.testing.assert_array_equal(np.flatnonzero(valid), np.arange(15, 20))
    # positions 12, 13, 14 are the purge gap: neither fitted nor validated
    assert not (train | valid)[12:15].any()
