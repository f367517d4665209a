"""Tests of the synthetic OHLCV generator: schema, invariants, determinism, regime footprint."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import m002
from m002._io import atomic_dir
from m002._schema import CANONICAL_COLUMNS, CANONICAL_SCHEMA
from m002.data._synthetic import (
    _EXIT,
    _MEAN_DURATION,
    MIN_DAYS,
    REGIME_NAMES,
    SyntheticData,
    generate_synthetic,
    write_synthetic,
)
from m002.exceptions import ConfigError, OutputExistsError

N_TICKERS = 50
N_DAYS = 1500


@pytest.fixture(scope="module")
def data() -> SyntheticData:
    return generate_synthetic(n_tickers=N_TICKERS, n_days=N_DAYS, seed=0)


def _matrix(frame: pl.DataFrame, column: str) -> npt.NDArray[np.float64]:
    """(ticker, day) matrix of a column of a frame sorted by ticker, date with a full calendar."""
    n_tickers = frame["ticker"].n_unique()
    out: npt.NDArray[np.float64] = frame[column].to_numpy().reshape(n_tickers, -1)
    return out


def _check_ohlcv(prices: pl.DataFrame) -> None:
    o, h, lo, c, v = (prices[col].to_numpy() for col in ("open", "high", "low", "close", "volume"))
    assert np.isfinite(np.stack([o, h, lo, c, v])).all()
    assert (lo > 0).all()
    assert (lo <= np.minimum(o, c)).all()
    assert (h >= np.maximum(o, c)).all()
    assert (v > 0).all()


# --- schema and calendar -------------------------------------------------------------------------


def test_prices_schema_and_sorting(data: SyntheticData) -> None:
    prices = data.prices
    assert prices.columns == list(CANONICAL_COLUMNS)
    assert dict(prices.schema) == CANONICAL_SCHEMA
    assert prices.height == N_TICKERS * N_DAYS
    assert prices.null_count().sum_horizontal().item() == 0
    assert prices.equals(prices.sort("ticker", "date"))
    assert prices.select(pl.struct("ticker", "date").is_unique().all()).item()


def test_ticker_names_and_calendar(data: SyntheticData) -> None:
    prices = data.prices
    names = prices["ticker"].unique(maintain_order=True).to_list()
    assert names == [f"SYN{i:04d}" for i in range(N_TICKERS)]
    per_ticker = prices.group_by("ticker").agg(pl.col("date"))
    calendars = {tuple(dates) for dates in per_ticker["date"].to_list()}
    assert len(calendars) == 1  # the same calendar for every ticker
    dates = prices.filter(pl.col("ticker") == "SYN0000")["date"]
    assert dates[0] == date(2010, 1, 4)
    assert dates.len() == N_DAYS
    assert dates.dt.weekday().is_between(1, 5).all()  # Monday=1 .. Friday=5
    gaps = dates.diff().drop_nulls().dt.total_days().unique().sort().to_list()
    assert gaps == [1, 3]  # consecutive business days, weekends skipped


@pytest.mark.parametrize(
    ("start", "first"),
    [
        ("2020-01-04", date(2020, 1, 6)),  # Saturday -> Monday
        (date(2021, 3, 3), date(2021, 3, 3)),
        (datetime(2021, 3, 3, 15, 30), date(2021, 3, 3)),
    ],
)
def test_start(start: date | str, first: date) -> None:
    dates = generate_synthetic(n_tickers=1, n_days=MIN_DAYS, start=start).prices["date"]
    assert dates[0] == first


def test_start_only_moves_the_calendar() -> None:
    a = generate_synthetic(n_tickers=3, n_days=MIN_DAYS, seed=5, start="2001-06-01")
    b = generate_synthetic(n_tickers=3, n_days=MIN_DAYS, seed=5)
    assert a.prices.drop("date").equals(b.prices.drop("date"))
    assert not a.prices["date"].equals(b.prices["date"])


def test_regimes_frame(data: SyntheticData) -> None:
    regimes = data.regimes
    assert dict(regimes.schema) == {
        "ticker": pl.String(),
        "date": pl.Date(),
        "regime": pl.String(),
        "regime_id": pl.Int8(),
    }
    assert regimes.select("ticker", "date").equals(data.prices.select("ticker", "date"))
    names = pl.Series(REGIME_NAMES)
    assert regimes["regime"].equals(names.gather(regimes["regime_id"]), check_names=False)
    assert REGIME_NAMES == ("up", "top", "down", "bottom", "sideways")


def test_first_prices_in_range(data: SyntheticData) -> None:
    first_open = _matrix(data.prices, "open")[:, 0]
    assert first_open.min() > 8.0
    assert first_open.max() < 600.0


# --- invariants ----------------------------------------------------------------------------------


def test_ohlcv_consistency(data: SyntheticData) -> None:
    _check_ohlcv(data.prices)


@settings(max_examples=15, deadline=None)
@given(
    n_tickers=st.integers(1, 6),
    n_days=st.integers(MIN_DAYS, 200),
    seed=st.integers(0, 2**32),
)
def test_ohlcv_consistency_any_arguments(n_tickers: int, n_days: int, seed: int) -> None:
    data = generate_synthetic(n_tickers=n_tickers, n_days=n_days, seed=seed)
    assert data.prices.height == n_tickers * n_days
    _check_ohlcv(data.prices)
    assert data.regimes["regime_id"].is_between(0, len(REGIME_NAMES) - 1).all()


def test_same_seed_same_frames(data: SyntheticData) -> None:
    again = generate_synthetic(n_tickers=N_TICKERS, n_days=N_DAYS, seed=0)
    assert again.prices.equals(data.prices)
    assert again.regimes.equals(data.regimes)


def test_other_seed_other_frames() -> None:
    a = generate_synthetic(n_tickers=5, n_days=MIN_DAYS, seed=1)
    b = generate_synthetic(n_tickers=5, n_days=MIN_DAYS, seed=2)
    assert not np.array_equal(a.prices["close"].to_numpy(), b.prices["close"].to_numpy())
    assert not np.array_equal(a.prices["volume"].to_numpy(), b.prices["volume"].to_numpy())


# --- statistics: regimes, tails, correlation, footprint ------------------------------------------


def test_regime_shares(data: SyntheticData) -> None:
    shares = data.regimes["regime"].value_counts(normalize=True)
    share = dict(zip(shares["regime"], shares["proportion"], strict=True))
    assert set(share) == set(REGIME_NAMES)
    assert min(share.values()) > 0.05


def test_regime_run_lengths(data: SyntheticData) -> None:
    ids = _matrix(data.regimes, "regime_id").astype(np.int64)
    runs: list[tuple[int, int]] = []
    for row in ids:
        cut = np.flatnonzero(np.diff(row)) + 1
        starts = np.concatenate([[0], cut])
        lengths = np.diff(np.concatenate([starts, [row.size]]))
        # first and last runs are truncated by the window: keep only whole runs
        runs.extend(zip(row[starts[1:-1]], lengths[1:-1], strict=True))
    run_regime, run_length = np.array(runs).T
    assert 25 <= run_length.mean() <= 40  # documented: about 31 days
    assert run_length.min() >= 5  # documented minimum duration
    for regime, mean_duration in enumerate(_MEAN_DURATION):
        observed = run_length[run_regime == regime].mean()
        assert 0.8 * mean_duration <= observed <= 1.2 * mean_duration, REGIME_NAMES[regime]


def test_only_allowed_transitions(data: SyntheticData) -> None:
    ids = _matrix(data.regimes, "regime_id").astype(np.int64)
    src, dst = ids[:, :-1].ravel(), ids[:, 1:].ravel()
    change = src != dst
    seen = set(zip(src[change].tolist(), dst[change].tolist(), strict=True))
    allowed = {(int(i), int(j)) for i, j in zip(*np.nonzero(_EXIT), strict=True)}
    assert seen <= allowed
    assert len(seen) >= len(allowed) - 2  # nearly every allowed transition happens


def test_fat_tails_and_correlation(data: SyntheticData) -> None:
    returns = np.diff(np.log(_matrix(data.prices, "close")), axis=1)
    z = (returns - returns.mean(axis=1, keepdims=True)) / returns.std(axis=1, keepdims=True)
    excess_kurtosis = (z**4).mean(axis=1) - 3.0
    assert np.median(excess_kurtosis) > 1.0
    corr = np.corrcoef(returns)
    mean_corr = corr[np.triu_indices(N_TICKERS, k=1)].mean()
    assert 0.2 <= mean_corr <= 0.45  # documented range


def test_regime_footprint(data: SyntheticData) -> None:
    frame = data.prices.with_columns(
        data.regimes["regime"],
        ret=pl.col("close").log().diff().over("ticker"),
        range_=(pl.col("high") / pl.col("low")).log(),
        log_volume=pl.col("volume").log(),
    ).drop_nulls("ret")
    stats = frame.group_by("regime").agg(
        mean=pl.col("ret").mean(),
        vol=pl.col("ret").std(),
        range_=pl.col("range_").mean(),
        log_volume=pl.col("log_volume").mean(),
    )
    s = {row["regime"]: row for row in stats.iter_rows(named=True)}
    assert s["up"]["mean"] > 0 > s["down"]["mean"]
    assert s["up"]["mean"] > s["sideways"]["mean"] > s["down"]["mean"]
    for stressed in ("top", "down"):
        assert s[stressed]["vol"] > 1.2 * s["sideways"]["vol"]
        assert s[stressed]["range_"] > s["sideways"]["range_"]
        assert s[stressed]["log_volume"] > s["sideways"]["log_volume"]


def test_regime_ramps(data: SyntheticData) -> None:
    """Volume builds up through a bottom; volatility rises through a top."""
    frame = (
        data.prices.with_columns(data.regimes["regime"])
        .with_columns(
            ret=pl.col("close").log().diff().over("ticker"),
            log_volume=pl.col("volume").log(),
            run=(pl.col("regime") != pl.col("regime").shift()).fill_null(True).cum_sum(),
        )
        .with_columns(age=pl.int_range(pl.len()).over("ticker", "run"))
        .drop_nulls("ret")
    )

    def stat(regime: str, expr: pl.Expr, *, late: bool) -> float:
        rows = frame.filter(pl.col("regime") == regime)
        rows = rows.filter(pl.col("age") >= 20) if late else rows.filter(pl.col("age") < 5)
        return float(rows.select(expr).item())

    volume = pl.col("log_volume").mean()
    assert stat("bottom", volume, late=True) > stat("bottom", volume, late=False) + 0.2
    vol = pl.col("ret").std()
    assert stat("top", vol, late=True) > stat("top", vol, late=False)


# --- writing -------------------------------------------------------------------------------------


def test_write_parquet_round_trip(tmp_path: Path) -> None:
    out = write_synthetic(tmp_path / "new" / "syn", n_tickers=4, n_days=MIN_DAYS, seed=3)
    assert out == tmp_path / "new" / "syn"
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        ".m002",
        "SYN0000.parquet",
        "SYN0001.parquet",
        "SYN0002.parquet",
        "SYN0003.parquet",
        "_regimes.parquet",
        "_synthetic.json",
    ]
    expected = generate_synthetic(n_tickers=4, n_days=MIN_DAYS, seed=3)
    read = pl.concat([pl.read_parquet(p) for p in sorted(out.glob("SYN*.parquet"))])
    assert read.equals(expected.prices)
    assert pl.read_parquet(out / "SYN0002.parquet")["ticker"].unique().to_list() == ["SYN0002"]
    assert pl.read_parquet(out / "_regimes.parquet").equals(expected.regimes)
    params = json.loads((out / "_synthetic.json").read_text(encoding="utf-8"))
    assert params["n_tickers"] == 4
    assert params["n_days"] == MIN_DAYS
    assert params["seed"] == 3
    assert params["start"] == "2010-01-04"
    assert params["m002_version"] == m002.__version__


def test_write_csv_round_trip(tmp_path: Path) -> None:
    out = write_synthetic(tmp_path, n_tickers=2, n_days=MIN_DAYS, seed=4, fmt="csv")
    expected = generate_synthetic(n_tickers=2, n_days=MIN_DAYS, seed=4).prices
    files = sorted(out.glob("SYN*.csv"))
    assert [p.name for p in files] == ["SYN0000.csv", "SYN0001.csv"]
    read = pl.concat([pl.read_csv(p, schema=CANONICAL_SCHEMA) for p in files])
    assert read.equals(expected)
    assert (out / "_regimes.parquet").is_file()
    assert json.loads((out / "_synthetic.json").read_text(encoding="utf-8"))["fmt"] == "csv"


def test_write_replaces_an_earlier_synthetic_folder_as_a_whole(tmp_path: Path) -> None:
    out = tmp_path / "syn"
    write_synthetic(out, n_tickers=5, n_days=MIN_DAYS, seed=1)
    (out / "notes.txt").write_text("inside m002's folder", encoding="utf-8")
    write_synthetic(out, n_tickers=2, n_days=MIN_DAYS, seed=2, fmt="csv")
    names = sorted(p.name for p in out.iterdir())
    assert names == [".m002", "SYN0000.csv", "SYN0001.csv", "_regimes.parquet", "_synthetic.json"]
    regimes = pl.read_parquet(out / "_regimes.parquet")
    assert regimes.equals(generate_synthetic(n_tickers=2, n_days=MIN_DAYS, seed=2).regimes)
    # nothing is left beside it: no temporary or old folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["syn"]


def test_write_refuses_a_folder_it_did_not_write_and_leaves_it_untouched(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "AAPL.parquet").write_bytes(b"someone else's data")
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(
        OutputExistsError, match=r"`out_dir` .*mine is not empty and is not an m002"
    ):
        write_synthetic(out, n_tickers=2, n_days=MIN_DAYS, seed=2)
    assert sorted(p.name for p in out.iterdir()) == ["AAPL.parquet", "notes.txt"]
    assert (out / "AAPL.parquet").read_bytes() == b"someone else's data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_write_refuses_another_kind_of_m002_folder(tmp_path: Path) -> None:
    out = tmp_path / "model"
    with atomic_dir(out, kind="model") as tmp:
        (tmp / "weights.txt").write_text("w", encoding="utf-8")
    with pytest.raises(OutputExistsError, match="is an m002 model folder"):
        write_synthetic(out, n_tickers=2, n_days=MIN_DAYS)
    assert (out / "weights.txt").read_text(encoding="utf-8") == "w"


def test_a_failed_write_leaves_the_earlier_folder_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "syn"
    write_synthetic(out, n_tickers=3, n_days=MIN_DAYS, seed=1)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(self: pl.DataFrame, *args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", broken)
    with pytest.raises(OSError, match="disk full"):
        write_synthetic(out, n_tickers=5, n_days=MIN_DAYS, seed=2)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["syn"]


# --- bad arguments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_tickers": 0}, r"`n_tickers` must be >= 1, got `n_tickers=0`"),
        ({"n_tickers": 2.0}, r"`n_tickers` must be an int >= 1, got `n_tickers=2.0`"),
        ({"n_tickers": True}, r"`n_tickers` must be an int"),
        ({"n_days": 10}, r"`n_days` must be >= 60, got `n_days=10`"),
        ({"n_days": "100"}, r"`n_days` must be an int >= 60, got `n_days='100'`"),
        ({"seed": -1}, r"`seed` must be >= 0, got `seed=-1`"),
        ({"seed": None}, r"`seed` must be an int >= 0, got `seed=None`"),
        ({"start": "2010-13-01"}, r"`start` must be a date YYYY-MM-DD, got `start='2010-13-01'`"),
        ({"start": 20100104}, r"got `start=20100104`"),
        ({"start": None}, r"`start` must be a date YYYY-MM-DD, got `start=None`"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=match):
        generate_synthetic(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=match):
        write_synthetic(tmp_path / "out", **kwargs)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()
    assert not any(tmp_path.iterdir())  # no temporary folder left behind


def test_bad_write_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"`fmt` must be 'parquet' or 'csv', got `fmt='xlsx'`"):
        write_synthetic(tmp_path, fmt="xlsx")  # type: ignore[arg-type]
    a_file = tmp_path / "file.txt"
    a_file.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"`out_dir` must be a folder"):
        write_synthetic(a_file, n_tickers=1, n_days=MIN_DAYS)
    assert not any(tmp_path.glob("*.parquet"))


def test_numpy_integers_accepted(tmp_path: Path) -> None:
    kwargs = {"n_tickers": np.int64(2), "n_days": np.int32(MIN_DAYS), "seed": np.uint8(7)}
    data = generate_synthetic(**kwargs)  # type: ignore[arg-type]
    assert data.prices.height == 2 * MIN_DAYS
    write_synthetic(tmp_path, **kwargs)  # type: ignore[arg-type]
    assert json.loads((tmp_path / "_synthetic.json").read_text(encoding="utf-8"))["seed"] == 7
