"""The real S&P 500 sample through load -> validate -> m002 features (skipped where absent)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from m002.data import read_silver
from m002.features import build_dataset, feature_names, longest_warmup


def test_every_row_of_the_sample_gets_m002_features(sample_dir: Path) -> None:
    report = read_silver(sample_dir, min_rows=longest_warmup("m002") + 1).report
    frame = build_dataset(sample_dir, "m002").collect()
    # nothing dropped, and nothing that would be dropped goes unreported
    assert report.rows_in == report.rows_out + report.rows_dropped
    assert report.rows_dropped == 0
    assert frame.height == report.rows_out == 465_390
    assert frame["ticker"].n_unique() == 100
    names = feature_names("m002")
    warm = frame.with_columns(row=pl.int_range(pl.len()).over("ticker")).filter(
        pl.col("row") >= longest_warmup("m002")
    )
    nulls = warm.select(pl.col(names).null_count()).row(0, named=True)
    assert all(n == 0 for n in nulls.values()), {k: v for k, v in nulls.items() if v}
    floats = [n for n in names if frame.schema[n] == pl.Float64]
    assert warm.select(pl.col(floats).is_infinite().sum()).sum_horizontal().item() == 0


def test_start_reads_enough_history_for_every_feature(sample_dir: Path) -> None:
    frame = build_dataset(sample_dir, "m002", start="2015-01-02", tickers=["BA", "C"]).collect()
    assert str(frame["date"].min()) == "2015-01-02"
    first_day = frame.filter(pl.col("date") == pl.col("date").min())
    assert first_day.height == 2
    assert first_day.select(pl.col(feature_names("m002")).null_count()).sum_horizontal().item() == 0
