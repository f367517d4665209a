"""Synthetic multi-ticker daily OHLCV with known ground-truth regimes.

The generator is the embedded default data set of m002: demos and fast tests run on it, and the
regime classifier and the multi-task head must be able to learn something from it. Each ticker
follows its own semi-Markov chain over five regimes (:data:`REGIME_NAMES`); the regime sets the
drift, the volatility, the volume level, the shape of the daily range, the jump rate and (in
``sideways`` and ``top``) a pull back to the price where the regime began. Some characteristics
ramp over the life of a regime (volatility rises through a top and shrinks through a bottom,
volume builds up through a bottom and towards capitulation in a downtrend), so that the regimes
leave a footprint in prices and volume that a causal model can pick up.

All tickers share a market factor (a chain of its own over the same regimes, longer-lived and
with smaller drifts) through per-ticker betas in [0.5, 1.5], so daily returns are correlated
(average pairwise correlation of daily returns 0.2-0.45 depending on the market path, median
about 0.3 over seeds, for 50 tickers x 1500 days). Innovations are Student-t with 4 degrees of
freedom scaled to unit variance, with GARCH(1, 1) volatility clustering on top of the regime
volatility, and occasional jumps (mostly down in ``down``/``top``) that show up as opening gaps
with a volume spike.

Process parameters for the tickers (daily log returns; "a -> b" ramps linearly over the
regime's mean duration, then stays at b; vol multipliers apply to the ticker's own volatility,
log-normal around 1.5% a day; pull-back is the share of the distance to the log price at the
regime's start that is closed each day):

========  =========  ================  ============  ==============  =========  =========
regime    mean days  drift             vol mult      log volume      jumps/day  pull-back
========  =========  ================  ============  ==============  =========  =========
up        45         +0.24% -> +0.16%  0.85          +0.05 -> -0.05  0.002      0
top       22         +0.06% -> -0.12%  1.00 -> 1.60  +0.20 -> +0.50  0.004      0.02
down      30         -0.22%            1.40          +0.15 -> +0.45  0.006      0
bottom    28         -0.04% -> +0.12%  1.30 -> 0.75  -0.20 -> +0.35  0.003      0
sideways  32         0                 0.70          -0.25           0.002      0.05
========  =========  ================  ============  ==============  =========  =========

Every regime lasts at least 5 days; after that it ends with a constant daily hazard, so that
durations are 5 + geometric with the means above (mean run length over all regimes about 31
days). When a regime ends, the next one is drawn from (rows: from, columns: to; dots are
transitions that never happen)::

                 up    top   down  bottom  sideways
    up           .     0.75  .     .       0.25
    top          0.15  .     0.65  .       0.20
    down         .     .     .     0.75    0.25
    bottom       0.65  .     0.15  .       0.20
    sideways     0.35  0.15  0.30  0.20    .

The long-run shares of days are about up 31%, top 13%, down 20%, bottom 17%, sideways 19%.

The market chain uses the same transitions with 1.5x the durations, drifts of +0.10% -> +0.08%
(up), +0.03% -> -0.03% (top), -0.10% (down), 0 -> +0.06% (bottom), +0.02% (sideways) and a base
volatility of 1.05% a day. Jumps are 2% plus an exponential with mean 3%, down with probability
0.4 (up), 0.6 (top), 0.8 (down), 0.5 (bottom, sideways). GARCH(1, 1): alpha 0.06, beta 0.92.
Opening gaps have 0.25x the day's volatility; upper and lower shadows are exponential with mean
0.5x the day's volatility, longer on the upper side in tops and on the lower side in bottoms.
Volume is log-normal around about $30M a day per ticker, with AR(1) noise (0.7, sd 0.25), plus
0.25 per unit of the absolute standardised return and 0.5 on jump days.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from m002 import __version__
from m002._checks import check_int
from m002._dates import parse_date
from m002._io import atomic_dir, write_json
from m002._schema import CANONICAL_COLUMNS, DATE, TICKER, VOLUME
from m002.exceptions import ConfigError

__all__ = ["MIN_DAYS", "REGIME_NAMES", "SyntheticData", "generate_synthetic", "write_synthetic"]

FloatArray = npt.NDArray[np.float64]

REGIME_NAMES: Final[tuple[str, ...]] = ("up", "top", "down", "bottom", "sideways")
"""Ground-truth regimes, in the order of ``regime_id``: trending up, topping, trending down,
bottoming/accumulating, sideways chop."""

MIN_DAYS: Final = 60
"""Smallest ``n_days`` accepted: about two regimes per ticker on average, and enough rows for the
rolling windows (up to 60 days) of the feature layer to produce values."""

TICKER_PREFIX: Final = "SYN"
REGIMES_FILE: Final = "_regimes.parquet"
PARAMS_FILE: Final = "_synthetic.json"

# --- regime process ------------------------------------------------------------------------------

_N_REGIMES: Final = len(REGIME_NAMES)
_MIN_DURATION: Final = 5
_MEAN_DURATION: Final = np.array([45.0, 22.0, 30.0, 28.0, 32.0])
# Where a regime goes when it ends (rows: from, columns: to, order of REGIME_NAMES).
_EXIT: Final = np.array(
    [
        [0.00, 0.75, 0.00, 0.00, 0.25],  # up -> top, or a pause
        [0.15, 0.00, 0.65, 0.00, 0.20],  # top -> mostly down; some failed tops resume
        [0.00, 0.00, 0.00, 0.75, 0.25],  # down -> bottom, or a pause
        [0.65, 0.00, 0.15, 0.00, 0.20],  # bottom -> mostly up; some breakdowns
        [0.35, 0.15, 0.30, 0.20, 0.00],  # sideways -> anything but itself
    ]
)
_MARKET_DURATION_SCALE: Final = 1.5

# (value at regime start, value once the regime is one mean duration old), per regime.
_DRIFT: Final = np.array(
    [[0.0024, 0.0016], [0.0006, -0.0012], [-0.0022, -0.0022], [-0.0004, 0.0012], [0.0, 0.0]]
)
_VOL_MULT: Final = np.array([[0.85, 0.85], [1.0, 1.6], [1.4, 1.4], [1.3, 0.75], [0.7, 0.7]])
_LOG_VOLUME: Final = np.array(
    [[0.05, -0.05], [0.20, 0.50], [0.15, 0.45], [-0.20, 0.35], [-0.25, -0.25]]
)
_MARKET_DRIFT: Final = np.array(
    [[0.0010, 0.0008], [0.0003, -0.0003], [-0.0010, -0.0010], [0.0, 0.0006], [0.0002, 0.0002]]
)
_MARKET_VOL_MULT: Final = np.array([[0.8, 0.8], [1.0, 1.4], [1.5, 1.5], [1.3, 0.8], [0.75, 0.75]])
_PULL_BACK: Final = np.array([0.0, 0.02, 0.0, 0.0, 0.05])
_JUMP_PROB: Final = np.array([0.002, 0.004, 0.006, 0.003, 0.002])
_JUMP_DOWN_PROB: Final = np.array([0.4, 0.6, 0.8, 0.5, 0.5])
_UPPER_SHADOW: Final = np.array([1.0, 1.3, 0.9, 1.0, 1.0])
_LOWER_SHADOW: Final = np.array([0.9, 1.0, 1.1, 1.3, 1.0])

# --- return and intraday model -------------------------------------------------------------------

_T_DF: Final = 4.0
_GARCH_ALPHA: Final = 0.06
_GARCH_BETA: Final = 0.92
_GARCH_SHOCK_CAP: Final = 16.0  # caps eps**2 so that one t-draw cannot blow the variance up
_MARKET_VOL: Final = 0.0105
_IDIO_VOL_MEDIAN: Final = 0.015
_JUMP_MIN: Final = 0.02
_JUMP_MEAN_EXCESS: Final = 0.03
_GAP_SCALE: Final = 0.25
_SHADOW_SCALE: Final = 0.5
_VOLUME_AR: Final = 0.7
_VOLUME_NOISE: Final = 0.25
_VOLUME_PER_ABS_Z: Final = 0.25
_VOLUME_JUMP: Final = 0.5


@dataclass(frozen=True, eq=False)
class SyntheticData:
    """Synthetic prices and the regimes that generated them.

    Attributes
    ----------
    prices : pl.DataFrame
        Canonical schema (``ticker``, ``date``, ``open``, ``high``, ``low``, ``close``,
        ``volume``), one row per (ticker, date), sorted by ticker then date.
    regimes : pl.DataFrame
        ``ticker``, ``date``, ``regime`` (one of :data:`REGIME_NAMES`) and ``regime_id``
        (``Int8`` index into :data:`REGIME_NAMES`), row-aligned with ``prices``.
    """

    prices: pl.DataFrame
    regimes: pl.DataFrame


def generate_synthetic(
    *,
    n_tickers: int = 50,
    n_days: int = 1500,
    seed: int = 0,
    start: date | str = "2010-01-04",
) -> SyntheticData:
    """Generate daily OHLCV for many tickers from a regime-switching process.

    See the module documentation for the process and its parameters. Every ticker covers the
    same calendar: ``n_days`` business days (Monday to Friday, no holidays) from ``start`` (or
    the first business day after it).

    Parameters
    ----------
    n_tickers : int, default 50
        Number of tickers, named ``SYN0000``, ``SYN0001``, ... (more digits past 10,000).
    n_days : int, default 1500
        Number of business days per ticker, at least :data:`MIN_DAYS` (60).
    seed : int, default 0
        Seed (>= 0). The same arguments give the same frames, bit for bit.
    start : datetime.date or str, default "2010-01-04"
        First calendar day, as a date or an ISO string ``"YYYY-MM-DD"``.

    Returns
    -------
    SyntheticData
        ``prices`` in the canonical schema and the ground-truth ``regimes``.

    Raises
    ------
    ConfigError
        If an argument is out of range or of the wrong type.

    Examples
    --------
    >>> data = generate_synthetic(n_tickers=3, n_days=60, seed=1)
    >>> data.prices.shape
    (180, 7)
    >>> data.prices["ticker"].unique().sort().to_list()
    ['SYN0000', 'SYN0001', 'SYN0002']
    """
    check_int("n_tickers", n_tickers, 1)
    check_int("n_days", n_days, MIN_DAYS)
    check_int("seed", seed, 0)
    first = _parse_start(start)

    sim = _simulate(n_tickers, n_days, seed)

    names = pl.Series(TICKER, _ticker_names(n_tickers), dtype=pl.String)
    ticker = names.gather(np.repeat(np.arange(n_tickers, dtype=np.uint32), n_days))
    days = np.busday_offset(np.datetime64(first, "D"), np.arange(n_days), roll="forward")
    day = pl.Series(DATE, np.tile(days, n_tickers))

    values = (pl.Series(c, sim[c], dtype=pl.Float64) for c in ("open", "high", "low", "close"))
    volume = pl.Series(VOLUME, sim[VOLUME], dtype=pl.Float64)
    prices = pl.DataFrame([ticker, day, *values, volume])
    regime_id = pl.Series("regime_id", sim["regime_id"], dtype=pl.Int8)
    regimes = pl.DataFrame(
        [
            ticker,
            day,
            pl.Series("regime", REGIME_NAMES, dtype=pl.String).gather(regime_id),
            regime_id,
        ]
    )
    return SyntheticData(prices=prices, regimes=regimes)


def write_synthetic(
    out_dir: str | Path,
    *,
    n_tickers: int = 50,
    n_days: int = 1500,
    seed: int = 0,
    start: date | str = "2010-01-04",
    fmt: Literal["parquet", "csv"] = "parquet",
) -> Path:
    """Generate synthetic data and write it as one file per ticker.

    Writes ``<TICKER>.parquet`` (or ``.csv``) with the canonical columns for every ticker, the
    ground truth as ``_regimes.parquet``, the arguments (with the package version) as
    ``_synthetic.json`` and the m002 marker ``.m002``. Names starting with ``_`` or ``.`` are
    ignored by the loader, so the folder can be passed to it as it is.

    The folder is written beside ``out_dir`` and renamed into place once complete, so a run
    killed at any moment leaves the earlier folder or the new one, never half of either. An
    existing ``out_dir`` is replaced as a whole only when it is empty or an m002 synthetic
    folder (it has the marker); any other non-empty folder is refused and left untouched.

    Parameters
    ----------
    out_dir : str or pathlib.Path
        Destination folder (its parents are created).
    n_tickers, n_days, seed, start
        As in :func:`generate_synthetic`.
    fmt : {"parquet", "csv"}, default "parquet"
        File format of the ticker files (the ground truth is always parquet).

    Returns
    -------
    pathlib.Path
        ``out_dir``.

    Raises
    ------
    ConfigError
        If an argument is out of range, or ``out_dir`` is an existing file.
    OutputExistsError
        If ``out_dir`` is a non-empty folder that m002 did not write as synthetic data.
    """
    if fmt not in ("parquet", "csv"):
        msg = f"`fmt` must be 'parquet' or 'csv', got `fmt={fmt!r}`"
        raise ConfigError(msg)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        msg = f"`out_dir` must be a folder, got `out_dir={str(out)!r}` (an existing file)"
        raise ConfigError(msg)
    # The target is checked on entry, before the data are generated.
    with atomic_dir(out, kind="synthetic", option="`out_dir`") as tmp:
        data = generate_synthetic(n_tickers=n_tickers, n_days=n_days, seed=seed, start=start)
        prices = data.prices.select(CANONICAL_COLUMNS)

        def write_one(i: int, name: str) -> None:
            part = prices.slice(i * n_days, n_days)  # sorted by ticker: a zero-copy slice
            path = tmp / f"{name}.{fmt}"
            if fmt == "parquet":
                part.write_parquet(path, statistics=False)
            else:
                part.write_csv(path)

        # polars releases the GIL while writing, so threads overlap the many small writes
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            list(pool.map(write_one, range(n_tickers), _ticker_names(n_tickers)))
        data.regimes.write_parquet(tmp / REGIMES_FILE)
        params = {
            "generator": "m002.data.generate_synthetic",
            "n_tickers": int(n_tickers),
            "n_days": int(n_days),
            "seed": int(seed),
            "start": _parse_start(start).isoformat(),
            "fmt": fmt,
            "regime_names": list(REGIME_NAMES),
            "m002_version": __version__,
        }
        write_json(tmp / PARAMS_FILE, params)
    return out


def _ticker_names(n_tickers: int) -> list[str]:
    width = max(4, len(str(n_tickers - 1)))
    return [f"{TICKER_PREFIX}{i:0{width}d}" for i in range(n_tickers)]


# --- argument checks -----------------------------------------------------------------------------


def _parse_start(start: object) -> date:
    first = parse_date(start, "start")
    if first is None:
        msg = f"`start` must be a date YYYY-MM-DD, got `start={start!r}`"
        raise ConfigError(msg)
    return first


# --- simulation ----------------------------------------------------------------------------------


def _stationary_start() -> FloatArray:
    """Long-run share of days per regime: jump-chain stationary law weighted by duration."""
    a = np.vstack([_EXIT.T - np.eye(_N_REGIMES), np.ones(_N_REGIMES)])
    b = np.zeros(_N_REGIMES + 1)
    b[-1] = 1.0
    visits = np.linalg.lstsq(a, b, rcond=None)[0]
    share: FloatArray = np.clip(visits, 0.0, None) * _MEAN_DURATION
    share /= share.sum()
    return share


def _simulate_chain(
    rng: np.random.Generator, n_days: int, n_series: int, mean_duration: FloatArray
) -> tuple[npt.NDArray[np.int8], FloatArray]:
    """Regime path (n_days, n_series) and each day's progress through its regime in [0, 1]."""
    hazard = 1.0 / (mean_duration - _MIN_DURATION + 1.0)
    exit_cum = np.cumsum(_EXIT, axis=1)
    exit_cum[:, -1] = 1.0
    state = np.empty((n_days, n_series), dtype=np.int8)
    age = np.empty((n_days, n_series), dtype=np.int32)

    s = rng.choice(_N_REGIMES, size=n_series, p=_stationary_start()).astype(np.int8)
    a = np.floor(rng.random(n_series) * mean_duration[s]).astype(np.int32)
    state[0], age[0] = s, a
    for t in range(1, n_days):
        u = rng.random((2, n_series))
        a += 1
        leave = np.flatnonzero((a >= _MIN_DURATION) & (u[0] < hazard[s]))
        if leave.size:
            nxt = (u[1, leave, None] >= exit_cum[s[leave]]).sum(axis=1)
            s[leave] = nxt
            a[leave] = 0
        state[t], age[t] = s, a
    progress: FloatArray = np.minimum(age / mean_duration[state], 1.0)
    return state, progress


def _ramp(table: FloatArray, state: npt.NDArray[np.int8], progress: FloatArray) -> FloatArray:
    lo, hi = table[:, 0][state], table[:, 1][state]
    out: FloatArray = lo + (hi - lo) * progress
    return out


def _student_t(rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
    """Student-t draws scaled to unit variance."""
    out: FloatArray = rng.standard_t(_T_DF, size=shape) * np.sqrt((_T_DF - 2.0) / _T_DF)
    return out


def _garch_sd(eps: FloatArray) -> FloatArray:
    """GARCH(1, 1) conditional standard deviation with unit long-run variance, along axis 0."""
    omega = 1.0 - _GARCH_ALPHA - _GARCH_BETA
    shock = np.minimum(eps * eps, _GARCH_SHOCK_CAP)
    var = np.empty_like(eps)
    var[0] = 1.0
    for t in range(1, eps.shape[0]):
        var[t] = omega + _GARCH_ALPHA * shock[t - 1] + _GARCH_BETA * var[t - 1]
    sd: FloatArray = np.sqrt(var, out=var)
    return sd


def _simulate(n_tickers: int, n_days: int, seed: int) -> dict[str, npt.NDArray[np.generic]]:
    """Run the process; return flat ticker-major arrays (row = ticker * n_days + day)."""
    streams = np.random.SeedSequence(seed).spawn(6)
    g_static, g_market, g_chain, g_ret, g_intra, g_volume = (
        np.random.default_rng(s) for s in streams
    )
    n, t_days = n_tickers, n_days

    # Per-ticker constants.
    beta = g_static.uniform(0.5, 1.5, n)
    idio_vol = np.clip(np.exp(g_static.normal(np.log(_IDIO_VOL_MEDIAN), 0.25, n)), 0.008, 0.035)
    log_p0 = g_static.uniform(np.log(10.0), np.log(500.0), n)
    log_base_volume = g_static.normal(np.log(3e7), 0.8, n) - log_p0  # ~$30M a day, in shares

    # Market factor.
    m_state, m_prog = _simulate_chain(g_market, t_days, 1, _MEAN_DURATION * _MARKET_DURATION_SCALE)
    m_eps = _student_t(g_market, (t_days, 1))
    m_sigma = _MARKET_VOL * _ramp(_MARKET_VOL_MULT, m_state, m_prog) * _garch_sd(m_eps)
    market = (_ramp(_MARKET_DRIFT, m_state, m_prog) + m_sigma * m_eps)[:, 0]
    m_sigma_1d = m_sigma[:, 0]

    # Ticker regimes, volatility and the return before pull-back.
    state, prog = _simulate_chain(g_chain, t_days, n, _MEAN_DURATION)
    eps = _student_t(g_ret, (t_days, n))
    sigma = _garch_sd(eps)
    sigma *= _ramp(_VOL_MULT, state, prog)
    sigma *= idio_vol
    step = eps
    step *= sigma
    step += _ramp(_DRIFT, state, prog)
    step += market[:, None] * beta

    is_jump = g_ret.random((t_days, n)) < _JUMP_PROB[state]
    k = int(is_jump.sum())
    size = _JUMP_MIN + g_ret.exponential(_JUMP_MEAN_EXCESS, k)
    down = g_ret.random(k) < _JUMP_DOWN_PROB[state[is_jump]]
    jump = np.zeros((t_days, n))
    jump[is_jump] = np.where(down, -size, size)
    step += jump

    # Sequential part: pull-back towards the price at regime start, and the volume noise.
    pull = _PULL_BACK[state]
    anchor_reset = prog == 0.0
    log_close = np.empty((t_days, n))
    volume_noise = g_volume.normal(0.0, _VOLUME_NOISE, (t_days, n))
    p = log_p0.copy()
    anchor = log_p0.copy()
    for t in range(t_days):
        np.copyto(anchor, p, where=anchor_reset[t])
        p = p + step[t] - pull[t] * (p - anchor)
        log_close[t] = p
        if t:
            volume_noise[t] += _VOLUME_AR * volume_noise[t - 1]
    del step, pull, anchor_reset, eps

    # Intraday: open gaps (jumps land there), high/low from a range that scales with the vol.
    log_prev = np.empty_like(log_close)
    log_prev[0] = log_p0
    log_prev[1:] = log_close[:-1]
    sigma_total = np.hypot(m_sigma_1d[:, None] * beta, sigma)
    del sigma
    log_open = log_prev + _GAP_SCALE * sigma_total * g_intra.standard_normal((t_days, n)) + jump
    del jump
    shadow = _SHADOW_SCALE * sigma_total
    up = shadow * _UPPER_SHADOW[state] * g_intra.standard_exponential((t_days, n))
    dn = shadow * _LOWER_SHADOW[state] * g_intra.standard_exponential((t_days, n))
    del shadow, sigma_total

    open_ = np.exp(log_open)
    close = np.exp(log_close)
    high = np.maximum(np.exp(np.maximum(log_open, log_close) + up), np.maximum(open_, close))
    low = np.minimum(np.exp(np.minimum(log_open, log_close) - dn), np.minimum(open_, close))
    del up, dn, log_open

    # Volume: per-ticker base, regime level, reaction to the size of the move and to jumps.
    ret_scale = np.hypot(_MARKET_VOL * beta, idio_vol)
    abs_z = np.minimum(np.abs(log_close - log_prev) / ret_scale, 6.0)
    del log_close, log_prev
    log_volume = volume_noise
    log_volume += _ramp(_LOG_VOLUME, state, prog)
    log_volume += _VOLUME_PER_ABS_Z * (abs_z - 0.8)
    log_volume += _VOLUME_JUMP * is_jump
    log_volume += log_base_volume
    volume = np.maximum(np.rint(np.exp(log_volume)), 1.0)
    del log_volume, abs_z, prog

    def flat(x: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
        return np.ascontiguousarray(x.T).reshape(-1)

    return {
        "open": flat(open_),
        "high": flat(high),
        "low": flat(low),
        "close": flat(close),
        "volume": flat(volume),
        "regime_id": flat(state),
    }
