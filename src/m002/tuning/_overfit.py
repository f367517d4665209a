"""How much of a tuned strategy's backtest is selection luck.

Trying many parameter sets and keeping the best one inflates the winner's backtest Sharpe
ratio: among enough zero-skill trials one looks good by chance. Two measures of that bias:

- `deflated_sharpe_ratio` (Bailey & López de Prado, 2014, "The Deflated Sharpe Ratio"): the
  probability that the chosen strategy's true Sharpe ratio exceeds the largest one expected
  from as many zero-skill trials (`expected_max_sharpe`), allowing for the skewness and
  fat tails of its returns;
- `probability_of_backtest_overfitting` (Bailey, Borwein, López de Prado & Zhu, 2017, "The
  probability of backtest overfitting"): by combinatorially symmetric cross-validation, how
  often the trial that is best in-sample ranks in the bottom half out-of-sample.

Sharpe ratios here are per period: mean / standard deviation (``ddof=1``) of the period
returns, with a zero risk-free rate. The ``*_annual`` values multiply them by sqrt(252).
"""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

from m002._checks import check_int
from m002.exceptions import ConfigError

__all__ = ["deflated_sharpe_ratio", "expected_max_sharpe", "probability_of_backtest_overfitting"]

_EULER_GAMMA: Final = 0.5772156649015329
_PERIODS_PER_YEAR: Final = 252
_NORMAL: Final = NormalDist()

FloatArray = npt.NDArray[np.float64]


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """Expected largest Sharpe ratio among ``n_trials`` trials whose true Sharpe ratio is 0.

    With ``N = n_trials`` and ``V = sharpe_variance`` (the variance of the Sharpe ratios
    across trials), Bailey & López de Prado (2014) approximate it by

    ``SR0 = sqrt(V) * ((1 - g) * Z(1 - 1/N) + g * Z(1 - 1/(N * e)))``

    with ``g`` the Euler-Mascheroni constant, ``Z`` the inverse of the standard normal CDF and
    ``e`` Euler's number. One trial is no selection: ``N = 1`` gives 0.

    Parameters
    ----------
    n_trials : int
        Number of trials the best one was chosen from, >= 1.
    sharpe_variance : float
        Variance of the trials' Sharpe ratios, finite and >= 0, in the same unit (per
        period or annual) as the result.

    Returns
    -------
    float
        ``SR0``, in the unit of the Sharpe ratios behind ``sharpe_variance``.

    Raises
    ------
    ConfigError
        If ``n_trials`` is not an int >= 1 or ``sharpe_variance`` is not a finite number
        >= 0.

    Examples
    --------
    >>> round(expected_max_sharpe(10, 0.25), 4)
    0.7873
    >>> expected_max_sharpe(1, 0.25)
    0.0
    """
    check_int("n_trials", n_trials, 1)
    variance = _finite_number("sharpe_variance", sharpe_variance)
    if variance < 0.0:
        msg = f"`sharpe_variance` must be >= 0, got `sharpe_variance={sharpe_variance!r}`"
        raise ConfigError(msg)
    n = int(n_trials)
    if n == 1:
        return 0.0
    # Z(1 - p) = -Z(p): the same value, without 1 - 1/N rounding to 1 for a huge N
    z_max = -_NORMAL.inv_cdf(1.0 / n)
    z_tail = -_NORMAL.inv_cdf(1.0 / (n * math.e))
    return math.sqrt(variance) * ((1.0 - _EULER_GAMMA) * z_max + _EULER_GAMMA * z_tail)


def deflated_sharpe_ratio(
    returns: npt.ArrayLike, *, trial_sharpes: npt.ArrayLike
) -> dict[str, float | int | None]:
    """Probability that the chosen strategy's true Sharpe ratio beats the best of its trials'
    expected by luck (Bailey & López de Prado, 2014).

    With ``r`` the chosen strategy's ``T`` period returns, ``SR = mean(r) / std(r, ddof=1)``,
    skewness ``g3 = m3 / m2**1.5`` and kurtosis ``g4 = m4 / m2**2`` (not excess; ``m_k`` the
    population central moments ``mean((r - mean(r))**k)``), ``N`` trials whose Sharpe ratios
    have variance ``V`` (``ddof=1``) and ``SR0 = expected_max_sharpe(N, V)``:

    ``DSR = Phi((SR - SR0) * sqrt(T - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR**2))``

    with ``Phi`` the standard normal CDF. With ``V = 0`` it is the probabilistic Sharpe ratio
    against a benchmark of 0.

    Parameters
    ----------
    returns : array_like
        1-D per-period (daily) returns of the chosen strategy; every value finite.
    trial_sharpes : array_like
        1-D per-period (not annualised) Sharpe ratios of every trial, the chosen one
        included. Non-finite values (trials whose Sharpe ratio is undefined) are dropped and
        counted in ``n_trials_dropped``: such a trial does not count as one. Give NaN for a
        trial whose returns are all equal: ``mean / std`` computed on them is rounding
        noise, often a huge number, that would inflate ``V``.

    Returns
    -------
    dict
        ``dsr`` (float in [0, 1], or None), ``sharpe`` and ``sharpe_annual`` (``SR`` and
        ``SR * sqrt(252)``), ``expected_max_sharpe`` and ``expected_max_sharpe_annual``
        (``SR0`` likewise), ``n_trials`` (finite trial Sharpe ratios), ``n_trials_dropped``,
        ``n_periods`` (``T``), ``skewness``, ``kurtosis`` and ``trial_sharpe_variance``
        (``V``).

        Edge cases: with fewer than 2 returns, or all returns equal (zero standard
        deviation), the Sharpe ratio is undefined and ``dsr``, ``sharpe``,
        ``sharpe_annual``, ``skewness`` and ``kurtosis`` are None. With fewer than 2 finite
        trial Sharpe ratios ``V`` is 0, so ``SR0`` is 0 and ``dsr`` is the probabilistic
        Sharpe ratio. If the term under the square root is <= 0 (it is
        ``>= (1 - g3 * SR / 2)**2``, so only for two-point return distributions or by
        rounding), ``dsr`` is None.

    Raises
    ------
    ConfigError
        If ``returns`` is not 1-D numbers or holds a NaN or infinite value, or
        ``trial_sharpes`` is not 1-D numbers.
    """
    r = _float_array("returns", returns, ndim=1)
    _check_finite("returns", r)
    trials = _float_array("trial_sharpes", trial_sharpes, ndim=1)
    finite_trials = trials[np.isfinite(trials)]
    n_trials = int(finite_trials.size)
    variance = float(finite_trials.var(ddof=1)) if n_trials >= 2 else 0.0
    sr0 = expected_max_sharpe(n_trials, variance) if n_trials >= 2 else 0.0
    annual = math.sqrt(_PERIODS_PER_YEAR)
    out: dict[str, float | int | None] = {
        "dsr": None,
        "sharpe": None,
        "sharpe_annual": None,
        "expected_max_sharpe": sr0,
        "expected_max_sharpe_annual": sr0 * annual,
        "n_trials": n_trials,
        "n_trials_dropped": int(trials.size) - n_trials,
        "n_periods": int(r.size),
        "skewness": None,
        "kurtosis": None,
        "trial_sharpe_variance": variance,
    }
    # all returns equal: the exact test for a zero standard deviation (a computed std can
    # come out a few ulp above 0 for a constant series)
    if r.size < 2 or np.ptp(r) == 0.0:
        return out
    sharpe, skewness, kurtosis = _sharpe_and_moments(r)
    out.update(sharpe=sharpe, sharpe_annual=sharpe * annual, skewness=skewness, kurtosis=kurtosis)
    spread = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if spread > 0.0:
        z = (sharpe - sr0) * math.sqrt(r.size - 1) / math.sqrt(spread)
        out["dsr"] = _NORMAL.cdf(z)
    return out


def probability_of_backtest_overfitting(
    returns_matrix: npt.ArrayLike, *, n_blocks: int = 16
) -> dict[str, float | int | list[float] | None]:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation
    (Bailey, Borwein, López de Prado & Zhu, 2017).

    The ``T`` rows of ``returns_matrix`` are split, in time order, into ``n_blocks``
    contiguous blocks of as equal size as possible (`numpy.array_split`; no row dropped).
    Each combination ``C`` of ``n_blocks / 2`` blocks is an in-sample half and its
    complement the out-of-sample half. In each half every trial's Sharpe ratio is
    mean / std (``ddof=1``) over the half's rows. ``n*`` is the trial with the best
    in-sample Sharpe ratio (ties: the lowest index); ``rank`` the 1-based ascending rank of
    its out-of-sample Sharpe ratio among the ``N`` trials (ties: average rank);
    ``w = rank / (N + 1)`` and the logit ``lambda = ln(w / (1 - w))``. Then

    ``PBO = #{C : lambda_C <= 0} / #C``,

    the share of combinations in which the in-sample winner does no better than the median
    trial out-of-sample.

    A trial whose returns in a half are all equal (zero standard deviation: Sharpe ratio
    undefined) ranks as ``-inf`` in that half: it is never the in-sample winner unless every
    trial is undefined there, and it ties with the other undefined ones out-of-sample.

    Parameters
    ----------
    returns_matrix : array_like
        ``T x N`` per-period returns, a row per period in time order and a column per
        trial; ``N >= 2``, ``T >= 2 * n_blocks``, every value finite.
    n_blocks : int, default 16
        Number of blocks, even and >= 2. The number of combinations is
        ``binom(n_blocks, n_blocks / 2)`` (12870 for 16), and the work and memory grow with
        that number times ``N``.

    Returns
    -------
    dict
        ``pbo``; ``n_combinations``, ``n_blocks``, ``n_trials``; ``logits``, one float per
        combination in the order of
        ``itertools.combinations(range(n_blocks), n_blocks // 2)``;
        ``degradation_slope`` and ``degradation_intercept``, the least-squares line of
        ``n*``'s out-of-sample Sharpe ratio on its in-sample one across combinations (fitted
        on the combinations where both are defined; None with fewer than 2 of them or no
        spread in the in-sample values); ``prob_oos_loss``, the share of combinations in
        which ``n*`` loses money out-of-sample (mean return < 0: the sign of its Sharpe
        ratio where that is defined).

    Raises
    ------
    ConfigError
        If ``n_blocks`` is not an even int >= 2, or ``returns_matrix`` is not 2-D numbers,
        has fewer than 2 columns or fewer than ``2 * n_blocks`` rows, or holds a NaN or
        infinite value.
    """
    x = _float_array("returns_matrix", returns_matrix, ndim=2)
    check_int("n_blocks", n_blocks, 2)
    if n_blocks % 2:
        msg = f"`n_blocks` must be even, got `n_blocks={n_blocks!r}`"
        raise ConfigError(msg)
    n_rows, n_trials = x.shape
    if n_trials < 2:
        msg = (
            "`returns_matrix` must have >= 2 columns (one per trial), got "
            f"`returns_matrix.shape={x.shape}`"
        )
        raise ConfigError(msg)
    if n_rows < 2 * n_blocks:
        msg = (
            f"`returns_matrix` must have >= 2 * n_blocks = {2 * n_blocks} rows, got "
            f"`returns_matrix.shape={x.shape}`"
        )
        raise ConfigError(msg)
    _check_finite("returns_matrix", x)

    in_sample = _in_sample_indicator(int(n_blocks))
    blocks = _block_stats(x, int(n_blocks))
    _, is_sharpe = _half_stats(blocks, in_sample)
    oos_mean, oos_sharpe = _half_stats(blocks, 1.0 - in_sample)

    combos = np.arange(in_sample.shape[0])
    best = np.argmax(is_sharpe, axis=1)  # the first maximum: ties go to the lowest index
    best_is = is_sharpe[combos, best]
    best_oos = oos_sharpe[combos, best]
    w = _average_rank(oos_sharpe, best_oos) / (n_trials + 1)
    logits = np.log(w / (1.0 - w))
    slope, intercept = _line_fit(best_is, best_oos)
    return {
        "pbo": float(np.mean(logits <= 0.0)),
        "n_combinations": int(in_sample.shape[0]),
        "n_blocks": int(n_blocks),
        "n_trials": int(n_trials),
        "logits": [float(v) for v in logits],
        "degradation_slope": slope,
        "degradation_intercept": intercept,
        "prob_oos_loss": float(np.mean(oos_mean[combos, best] < 0.0)),
    }


def _sharpe_and_moments(r: FloatArray) -> tuple[float, float, float]:
    """``(SR, g3, g4)`` of a series with at least 2 values, not all equal."""
    deviations = r - r.mean()
    m2 = float(np.mean(deviations**2))
    m3 = float(np.mean(deviations**3))
    m4 = float(np.mean(deviations**4))
    sharpe = float(r.mean()) / float(r.std(ddof=1))
    return sharpe, m3 / m2**1.5, m4 / m2**2


class _Blocks(NamedTuple):
    """Per-block summaries of a ``T x N`` matrix, each ``(n_blocks, N)`` unless noted."""

    counts: FloatArray  # (n_blocks,) rows per block
    sums: FloatArray  # sum of the rows
    centred_sums: FloatArray  # sum of the rows less each trial's overall mean
    centred_squares: FloatArray  # sum of their squares
    varied: FloatArray  # 1.0 where the block's values are not all equal
    codes: FloatArray  # dense rank of the block's first value within its trial


def _block_stats(x: FloatArray, n_blocks: int) -> _Blocks:
    """Sums, sums of squares and counts of each block of rows (`numpy.array_split`
    semantics), with what `_half_stats` needs to tell an exactly constant half."""
    starts = np.array([rows[0] for rows in np.array_split(np.arange(x.shape[0]), n_blocks)])
    counts = np.diff(np.append(starts, x.shape[0])).astype(np.float64)
    # centring each trial on its mean keeps the sum-of-squares variance from cancelling
    centred = x - x.mean(axis=0)
    varied = np.maximum.reduceat(x, starts, axis=0) != np.minimum.reduceat(x, starts, axis=0)
    first = x[starts]
    order = np.argsort(first, axis=0, kind="stable")
    ranked = np.take_along_axis(first, order, axis=0)
    new_value = np.vstack([np.zeros((1, x.shape[1])), np.diff(ranked, axis=0) != 0.0])
    codes = np.empty_like(first)
    np.put_along_axis(codes, order, np.cumsum(new_value, axis=0), axis=0)
    return _Blocks(
        counts=counts,
        sums=np.add.reduceat(x, starts, axis=0),
        centred_sums=np.add.reduceat(centred, starts, axis=0),
        centred_squares=np.add.reduceat(centred**2, starts, axis=0),
        varied=varied.astype(np.float64),
        codes=codes,
    )


def _half_stats(blocks: _Blocks, indicator: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Mean and Sharpe ratio of every trial over the rows of the blocks each row of the 0/1
    ``indicator`` (combinations x blocks) selects, both ``(n_combinations, N)``.

    A half is constant when none of its blocks varies and all of them hold the same value:
    ``k * sum(code**2) == sum(code)**2`` over its ``k`` blocks' codes (small integers, so the
    test is exact). Its Sharpe ratio, like that of a half whose variance rounds to <= 0, is
    ``-inf``.
    """
    n = (indicator @ blocks.counts)[:, None]
    # the mean from the raw sums: a half of zeros has mean 0 exactly, not a few ulp off
    mean = (indicator @ blocks.sums) / n
    centred_mean = (indicator @ blocks.centred_sums) / n
    variance = (indicator @ blocks.centred_squares - centred_mean**2 * n) / (n - 1.0)
    k = indicator.sum(axis=1, keepdims=True)
    code_sum = indicator @ blocks.codes
    constant = (indicator @ blocks.varied == 0.0) & (
        k * (indicator @ blocks.codes**2) == code_sum**2
    )
    undefined = constant | (variance <= 0.0)
    sd = np.sqrt(np.where(undefined, 1.0, variance))
    return mean, np.where(undefined, -np.inf, mean / sd)


def _in_sample_indicator(n_blocks: int) -> FloatArray:
    """0/1 matrix, a row per combination of ``n_blocks // 2`` blocks in
    `itertools.combinations` order, 1.0 on the blocks of its in-sample half."""
    combos = np.array(list(itertools.combinations(range(n_blocks), n_blocks // 2)))
    indicator = np.zeros((combos.shape[0], n_blocks))
    np.put_along_axis(indicator, combos, 1.0, axis=1)
    return indicator


def _average_rank(values: FloatArray, target: FloatArray) -> FloatArray:
    """1-based ascending rank of ``target[c]`` among ``values[c]`` (which holds it), ties
    given their average rank."""
    below = np.sum(values < target[:, None], axis=1)
    tied = np.sum(values == target[:, None], axis=1)
    return np.asarray(below + (tied + 1) / 2.0, dtype=np.float64)


def _line_fit(x: FloatArray, y: FloatArray) -> tuple[float | None, float | None]:
    """Slope and intercept of the least-squares line of ``y`` on ``x`` over the finite
    pairs; ``(None, None)`` with fewer than 2 of them or no spread in ``x``."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if x.size < 2 or np.ptp(x) == 0.0:
        return None, None
    dx = x - x.mean()
    slope = float(np.sum(dx * (y - y.mean())) / np.sum(dx**2))
    return slope, float(y.mean()) - slope * float(x.mean())


def _float_array(name: str, value: npt.ArrayLike, *, ndim: int) -> FloatArray:
    """``value`` as a float array of ``ndim`` dimensions, or a `ConfigError` naming it."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        msg = f"`{name}` must be an array of numbers, got {type(value).__name__}: {exc}"
        raise ConfigError(msg) from exc
    if array.ndim != ndim:
        msg = f"`{name}` must be {ndim}-D, got an array of shape {array.shape}"
        raise ConfigError(msg)
    return array


def _check_finite(name: str, array: FloatArray) -> None:
    """No NaN or infinite value: refuse instead of letting one turn every figure into NaN."""
    bad = np.argwhere(~np.isfinite(array))
    if bad.size:
        where = tuple(int(i) for i in bad[0])
        msg = (
            f"`{name}` must be finite, got {bad.shape[0]} NaN or infinite value(s) "
            f"(first: {array[where]} at index {where if len(where) > 1 else where[0]})"
        )
        raise ConfigError(msg)


def _finite_number(name: str, value: object) -> float:
    """``value`` as a float if it is a finite real number (not a bool), else a
    `ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        msg = f"`{name}` must be a number, got `{name}={value!r}`"
        raise ConfigError(msg)
    if not math.isfinite(value):
        msg = f"`{name}` must be finite, got `{name}={value!r}`"
        raise ConfigError(msg)
    return float(value)
