"""Feature values against independent references (plain Python/numpy loops, scipy)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.signal import savgol_coeffs

from m002.features import add_features
from m002.features._expressions import savgol_coefficients
from m002.features._sets import CURV_WINDOW

from .conftest import random_ohlcv


@pytest.fixture(scope="module")
def one() -> pl.DataFrame:
    return random_ohlcv(n_tickers=1, min_days=120, max_days=120, seed=5)


@pytest.fixture(scope="module")
def feats(one: pl.DataFrame) -> pl.DataFrame:
    return add_features(one, "m002").collect()


def wilder(values: np.ndarray, window: int) -> np.ndarray:
    """Textbook Wilder smoothing of values[1:], seeded by the mean of the first window."""
    out = np.full(values.size, np.nan)
    out[window] = values[1 : window + 1].mean()
    for t in range(window + 1, values.size):
        out[t] = out[t - 1] + (values[t] - out[t - 1]) / window
    return out


def ema(values: np.ndarray, span: int) -> np.ndarray:
    alpha = 2 / (span + 1)
    out = np.empty_like(values)
    out[0] = values[0]
    for t in range(1, values.size):
        out[t] = alpha * values[t] + (1 - alpha) * out[t - 1]
    return out


def close_to(actual: pl.Series, expected: np.ndarray, first: int, atol: float = 1e-12) -> None:
    assert actual[:first].null_count() == first
    assert actual[first:].null_count() == 0
    np.testing.assert_allclose(actual.to_numpy()[first:], expected[first:], rtol=1e-10, atol=atol)


@pytest.mark.parametrize(("window", "polyorder", "deriv"), [(11, 2, 2), (7, 3, 1), (5, 2, 0)])
def test_trailing_savgol_coefficients_match_scipy(window: int, polyorder: int, deriv: int) -> None:
    ours = np.array(savgol_coefficients(window, polyorder, deriv))
    # scipy's `dot` coefficients weigh x[0..window-1] oldest first; ours weigh today first
    theirs = savgol_coeffs(window, polyorder, deriv=deriv, pos=window - 1, use="dot")
    np.testing.assert_allclose(ours[::-1], theirs, rtol=1e-10, atol=1e-12)


def test_curv_2_against_scipy_filter(one: pl.DataFrame, feats: pl.DataFrame) -> None:
    log_close = np.log(one["close"].to_numpy())
    coef = savgol_coeffs(CURV_WINDOW, 2, deriv=2, pos=CURV_WINDOW - 1, use="dot")
    second = np.full(log_close.size, np.nan)
    for t in range(CURV_WINDOW - 1, log_close.size):
        second[t] = coef @ log_close[t - CURV_WINDOW + 1 : t + 1]
    returns = np.diff(log_close, prepend=np.nan)
    vol = np.full(log_close.size, np.nan)
    for t in range(20, log_close.size):
        vol[t] = returns[t - 19 : t + 1].std(ddof=1)
    # the filter sums terms ~5 into a result ~1e-5 and then divides by ~0.015: rounding in the
    # last bits of the sum shows up as ~1e-12 on values of order 1
    close_to(feats["curv_2"], (CURV_WINDOW - 1) * second / vol, first=20, atol=1e-9)


def test_curv_2_of_a_parabola_is_its_second_derivative() -> None:
    t = np.arange(80, dtype=float)
    wiggle = 0.01 * np.sin(t)  # keeps volatility_20 away from zero
    frame = pl.DataFrame(
        {
            "ticker": "P",
            "date": pl.date_range(pl.date(2020, 1, 1), pl.date(2020, 3, 20), eager=True),
            "close": np.exp(0.001 * t**2 + wiggle),
        }
    ).with_columns(open=pl.col("close"), high=pl.col("close"), low=pl.col("close"), volume=1.0)
    out = add_features(frame, "m002").collect()
    c = np.array(savgol_coefficients(CURV_WINDOW, 2, 2))
    # the filter is exact on degree-2 polynomials: d2/dt2 (0.001 t^2) = 0.002
    lags = np.arange(CURV_WINDOW, dtype=float)
    assert c @ (0.001 * (79 - lags) ** 2) == pytest.approx(0.002, rel=1e-9)
    assert out["curv_2"].null_count() == 20


def test_rsi_and_atr_against_textbook_wilder(one: pl.DataFrame, feats: pl.DataFrame) -> None:
    close, high, low = (one[c].to_numpy() for c in ("close", "high", "low"))
    change = np.diff(close, prepend=np.nan)
    gain = wilder(np.clip(change, 0, None), 14)
    loss = wilder(np.clip(-change, 0, None), 14)
    close_to(feats["rsi_14"], 100 * gain / (gain + loss), first=14)
    prev = np.roll(close, 1)
    tr = np.maximum.reduce([high - low, np.abs(high - prev), np.abs(low - prev)])
    close_to(feats["atr_14"], wilder(tr, 14), first=14)


def test_rsi_on_a_hand_computed_frame() -> None:
    # 16 closes, 15 changes: the seed on row 14 averages the first 14 changes
    changes = [1, -1, 2, -2, 1, 1, 1, -3, 2, 1, -1, 1, 1, 1, 2]
    close = 100 + np.cumsum([0, *changes])
    frame = pl.DataFrame(
        {
            "ticker": "H",
            "date": pl.date_range(pl.date(2021, 1, 1), pl.date(2021, 1, 16), eager=True),
            "close": close.astype(float),
        }
    ).with_columns(open=pl.col("close"), high=pl.col("close"), low=pl.col("close"), volume=1.0)
    rsi = add_features(frame, "v1").collect()["rsi_14"]
    gains14, losses14 = 12 / 14, 7 / 14  # first 14 changes: gains sum to 12, losses to 7
    assert rsi[14] == pytest.approx(100 * gains14 / (gains14 + losses14))
    g15, l15 = gains14 + (2 - gains14) / 14, losses14 + (0 - losses14) / 14
    assert rsi[15] == pytest.approx(100 * g15 / (g15 + l15))
    assert rsi[:14].null_count() == 14


def test_macd_and_ema_spread_against_loops(one: pl.DataFrame, feats: pl.DataFrame) -> None:
    close = one["close"].to_numpy()
    macd = (ema(close, 12) - ema(close, 26)) / close
    close_to(feats["macd"], macd, first=25)
    signal = np.full(close.size, np.nan)
    signal[25:] = ema(macd[25:], 9)
    close_to(feats["macd_signal"], signal, first=33)
    close_to(feats["ema_spread_rel"], (ema(close, 5) - ema(close, 20)) / ema(close, 20), first=19)


def test_bollinger_volume_and_candles(one: pl.DataFrame, feats: pl.DataFrame) -> None:
    close, volume = one["close"].to_numpy(), one["volume"].to_numpy()
    pctb, vz = np.full(close.size, np.nan), np.full(close.size, np.nan)
    for t in range(19, close.size):
        w = close[t - 19 : t + 1]
        pctb[t] = (close[t] - (w.mean() - 2 * w.std())) / (4 * w.std())
        lv = np.log1p(volume[t - 19 : t + 1])
        vz[t] = (lv[-1] - lv.mean()) / lv.std(ddof=1)
    close_to(feats["bb_pctb_20"], pctb, first=19)
    close_to(feats["volume_z_20"], vz, first=19)
    o, h, lo = (one[c].to_numpy() for c in ("open", "high", "low"))
    close_to(feats["candle_body"], (close - o) / (h - lo), first=0)
    close_to(feats["gap_open"], o / np.roll(close, 1) - 1, first=1)


def test_days_since_volume_regain_counts_rows_and_caps(feats: pl.DataFrame) -> None:
    events = feats["event_volume_regain"].to_list()
    days = feats["days_since_volume_regain"].to_list()
    for t in range(60, len(events)):
        seen = [k for k in range(max(20, t - 40), t + 1) if events[k] == 1]
        expected = t - seen[-1] if seen else 40
        assert days[t] == expected, t
