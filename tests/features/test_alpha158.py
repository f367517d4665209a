"""Qlib's Alpha158 (`alpha158`) against values computed by Qlib itself, without Qlib installed.

The fixture ``data/alpha158_qlib.parquet`` holds three synthetic tickers of 120 rows (prices in
whole cents, so that highs, lows and closes tie; one stretch of ten equal closes) with Qlib's
value of every feature, written by ``benchmarks/bench_alpha158_qlib.py --write-fixture``
(pyqlib 0.9.7's operators on float64 prices) where m002's value is defined.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy.stats import rankdata

from m002._schema import CANONICAL_COLUMNS
from m002.features import add_features, feature_names, longest_warmup

from .conftest import random_ohlcv

FIXTURE = Path(__file__).parent / "data" / "alpha158_qlib.parquet"
WINDOWS = (5, 10, 20, 30, 60)
ROLLING = [
    "ROC", "MA", "STD", "BETA", "RSQR", "RESI", "MAX", "MIN", "QTLU", "QTLD", "RANK", "RSV",
    "IMAX", "IMIN", "IMXD", "CORR", "CORD", "CNTP", "CNTN", "CNTD", "SUMP", "SUMN", "SUMD",
    "VMA", "VSTD", "WVMA", "VSUMP", "VSUMN", "VSUMD",
]  # fmt: skip
KBAR_AND_PRICE = [
    "KMID", "KLEN", "KMID2", "KUP", "KUP2", "KLOW", "KLOW2", "KSFT", "KSFT2",
    "OPEN0", "HIGH0", "LOW0",
]  # fmt: skip
QLIB_NAMES = [*KBAR_AND_PRICE, *(f"{family}{d}" for family in ROLLING for d in WINDOWS)]


@pytest.fixture(scope="module")
def reference() -> pl.DataFrame:
    return pl.read_parquet(FIXTURE)


@pytest.fixture(scope="module")
def ours(reference: pl.DataFrame) -> pl.DataFrame:
    return add_features(reference.select(CANONICAL_COLUMNS), "alpha158").collect()


def test_the_set_has_qlibs_names_in_qlibs_order_less_vwap0() -> None:
    assert feature_names("alpha158") == QLIB_NAMES
    assert len(QLIB_NAMES) == 157
    assert feature_names("m002+alpha158") == feature_names("m002") + QLIB_NAMES
    assert longest_warmup("alpha158") == 60


def flat_close(frame: pl.DataFrame, window: int) -> pl.Series:
    """True where the last ``window`` closes of the ticker are all equal."""
    close = pl.col("close")
    spread = close.rolling_max(window) - close.rolling_min(window)
    return frame.select((spread == 0).over("ticker").fill_null(False))["close"]


@pytest.mark.parametrize("name", QLIB_NAMES)
def test_every_feature_matches_qlib(reference: pl.DataFrame, ours: pl.DataFrame, name: str) -> None:
    expected = reference[name].fill_nan(None)
    actual = ours[name]
    # defined exactly where Qlib's value is defined, after the warm-up
    assert actual.is_null().to_list() == expected.is_null().to_list()
    keep = expected.is_not_null()
    if name.startswith("STD"):
        # a window of equal closes: m002 gives the exact 0; Qlib's pandas rolling std leaves
        # the rounding residue of the rows that left the window (here up to 1e-8)
        window = int(name[3:])
        flat = flat_close(reference, window) & keep
        assert flat.any() == (window <= 10)  # the fixture's ten equal closes
        assert (actual.filter(flat) == 0).all()
        assert (expected.filter(flat).abs() < 1e-7).all()
        keep = keep & ~flat
    np.testing.assert_allclose(
        actual.filter(keep).to_numpy(), expected.filter(keep).to_numpy(), rtol=1e-6, atol=1e-12
    )


def test_flat_windows_are_undefined_for_rsquare_and_correlation(ours: pl.DataFrame) -> None:
    # ten equal closes in the first ticker: Qlib's Rsquare and Corr are NaN there
    first = ours.filter(pl.col("ticker") == ours["ticker"].min())
    assert first["RSQR5"].slice(74, 6).null_count() == 6
    assert first["CORR5"].slice(74, 6).null_count() == 6
    assert first["STD5"].slice(74, 6).to_list() == [0.0] * 6


# --- ties, against plain numpy/scipy -----------------------------------------------------------


@pytest.fixture(scope="module")
def ticked() -> pl.DataFrame:
    """Random prices rounded to whole dollars and volumes: many ties."""
    prices = random_ohlcv(n_tickers=2, min_days=150, max_days=150, seed=4)
    return prices.with_columns(pl.col("open", "high", "low", "close").round(0))


def windows(values: np.ndarray, d: int) -> np.ndarray:
    return np.lib.stride_tricks.sliding_window_view(values, d)


@pytest.mark.parametrize("d", WINDOWS)
def test_idxmax_idxmin_and_rank_with_ties(ticked: pl.DataFrame, d: int) -> None:
    out = add_features(ticked, "alpha158").collect()
    for (ticker,), rows in out.group_by("ticker"):
        rows = rows.sort("date")
        high, low, close = (rows[c].to_numpy() for c in ("high", "low", "close"))
        # numpy's argmax/argmin take the first (oldest) of tied extremes, as Qlib does
        imax = windows(high, d).argmax(axis=1) + 1
        imin = windows(low, d).argmin(axis=1) + 1
        rank = np.array([rankdata(w)[-1] / d for w in windows(close, d)])
        for name, expected in (
            ("IMAX", imax / d),
            ("IMIN", imin / d),
            ("IMXD", (imax - imin) / d),
            ("RANK", rank),
        ):
            actual = rows[f"{name}{d}"].to_numpy()[d - 1 :]
            # one unit in the last place at most: m002 multiplies by 1/d where Qlib divides
            np.testing.assert_allclose(actual, expected, rtol=3e-16, atol=0, err_msg=ticker)


@pytest.mark.parametrize("d", WINDOWS)
def test_quantiles_with_ties_against_numpy(ticked: pl.DataFrame, d: int) -> None:
    """QTLU and QTLD (a sorting network for 5 rows, a rolling quantile for longer windows)
    against numpy's linear quantile of each window."""
    out = add_features(ticked, "alpha158").collect()
    for (ticker,), rows in out.group_by("ticker"):
        rows = rows.sort("date")
        close = rows["close"].to_numpy()
        for name, q in (("QTLU", 0.8), ("QTLD", 0.2)):
            expected = np.quantile(windows(close, d), q, axis=1) / close[d - 1 :]
            actual = rows[f"{name}{d}"].to_numpy()[d - 1 :]
            np.testing.assert_allclose(actual, expected, rtol=1e-14, atol=0, err_msg=ticker)


# --- warm-ups and causality ----------------------------------------------------------------------


@pytest.mark.parametrize("set_name", ["alpha158", "m002+alpha158"])
def test_cutting_or_changing_prices_after_t_changes_nothing_up_to_t(
    reference: pl.DataFrame, set_name: str
) -> None:
    prices = reference.select(CANONICAL_COLUMNS)
    full = add_features(prices, set_name).collect()
    dates = prices["date"].unique().sort()
    rng = np.random.default_rng(0)
    for cut in dates.gather([0, 4, 30, 59, 60, 61, 90, len(dates) - 2]):
        before = pl.col("date") <= cut
        truncated = add_features(prices.filter(before), set_name).collect()
        assert truncated.equals(full.filter(before)), cut
        shock = pl.when(before).then(1.0).otherwise(pl.lit(np.exp(rng.normal(0, 0.2, 1))[0]))
        changed = prices.with_columns(pl.col("open", "high", "low", "close", "volume") * shock)
        perturbed = add_features(changed, set_name).collect()
        assert perturbed.filter(before).equals(full.filter(before)), cut
        assert not perturbed.filter(~before).equals(full.filter(~before)), cut


def test_after_a_zero_volume_cord_correlates_the_other_rows_of_its_window() -> None:
    prices = random_ohlcv(n_tickers=1, min_days=80, max_days=80, seed=2)
    prices = prices.with_columns(
        pl.when(pl.int_range(pl.len()) == 40).then(0.0).otherwise(pl.col("volume")).alias("volume")
    )
    out = add_features(prices, "alpha158").collect()
    close, volume = prices["close"].to_numpy(), prices["volume"].to_numpy()
    with np.errstate(divide="ignore"):
        x, y = close[1:] / close[:-1], np.log(volume[1:] / volume[:-1] + 1)  # y[40] = inf
    for t in range(41, 46):  # the windows of CORD5 that hold row 41, whose ratio is undefined
        pairs = [k for k in range(t - 4, t + 1) if np.isfinite(y[k - 1])]
        assert len(pairs) == 4
        expected = np.corrcoef(x[[k - 1 for k in pairs]], y[[k - 1 for k in pairs]])[0, 1]
        np.testing.assert_allclose(out["CORD5"][t], expected, rtol=1e-9)
    assert out["CORD5"].slice(5).is_finite().all()
    assert out["VMA5"][40] > 1e9  # Qlib's volume + 1e-12 denominator, kept
