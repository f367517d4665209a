"""Deflated Sharpe ratio and probability of backtest overfitting against hand computations.

Every expected value is worked out here in plain Python (`statistics`, `math`, explicit
loops), step by step from the papers' formulas, never by calling the code under test.
"""

from __future__ import annotations

import math
import statistics
from statistics import NormalDist

import numpy as np
import pytest

from m002.exceptions import ConfigError
from m002.tuning import _overfit as overfit
from m002.tuning._overfit import (
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probability_of_backtest_overfitting,
)

EULER_GAMMA = 0.5772156649015329
Z = NormalDist().inv_cdf
PHI = NormalDist().cdf


# --- expected_max_sharpe ------------------------------------------------------------------


def test_expected_max_sharpe_ten_trials() -> None:
    # Z(1 - 1/10) = Z(0.9) = 1.28155...; Z(1 - 1/(10 e)) = Z(0.96321...) = 1.78951...
    z_max = Z(1 - 1 / 10)
    z_tail = Z(1 - 1 / (10 * math.e))
    assert z_max == pytest.approx(1.2815515655446004, rel=1e-12)
    expected = math.sqrt(0.25) * ((1 - EULER_GAMMA) * z_max + EULER_GAMMA * z_tail)
    assert expected_max_sharpe(10, 0.25) == pytest.approx(expected, rel=1e-12)
    assert expected_max_sharpe(10, 0.25) == pytest.approx(0.7873, abs=5e-5)


def test_expected_max_sharpe_two_trials_is_the_tail_term_alone() -> None:
    # Z(1 - 1/2) = Z(0.5) = 0, so only g * Z(1 - 1/(2e)) is left
    expected = 2.0 * EULER_GAMMA * Z(1 - 1 / (2 * math.e))
    assert expected_max_sharpe(2, 4.0) == pytest.approx(expected, rel=1e-12)


def test_expected_max_sharpe_no_selection_or_no_spread_is_zero() -> None:
    assert expected_max_sharpe(1, 0.25) == 0.0
    assert expected_max_sharpe(50, 0.0) == 0.0


def test_expected_max_sharpe_grows_with_trials() -> None:
    values = [expected_max_sharpe(n, 0.01) for n in (2, 5, 10, 100, 1000)]
    assert values == sorted(values)
    assert len(set(values)) == len(values)


# --- deflated_sharpe_ratio ----------------------------------------------------------------

RETURNS = [0.012, -0.008, 0.021, 0.004, -0.015, 0.018, 0.006]
TRIALS = [0.05, 0.12, -0.03, 0.20, 0.08]


def _hand_moments(r: list[float]) -> tuple[float, float, float]:
    """(SR, skewness, kurtosis) step by step."""
    t = len(r)
    mean = sum(r) / t
    dev = [x - mean for x in r]
    m2 = sum(d**2 for d in dev) / t
    m3 = sum(d**3 for d in dev) / t
    m4 = sum(d**4 for d in dev) / t
    sample_sd = math.sqrt(sum(d**2 for d in dev) / (t - 1))
    return mean / sample_sd, m3 / m2**1.5, m4 / m2**2


def test_dsr_by_hand() -> None:
    sr, g3, g4 = _hand_moments(RETURNS)
    t = len(RETURNS)
    n = len(TRIALS)
    trial_mean = sum(TRIALS) / n
    v = sum((s - trial_mean) ** 2 for s in TRIALS) / (n - 1)
    sr0 = math.sqrt(v) * ((1 - EULER_GAMMA) * Z(1 - 1 / n) + EULER_GAMMA * Z(1 - 1 / (n * math.e)))
    dsr = PHI((sr - sr0) * math.sqrt(t - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2))

    out = deflated_sharpe_ratio(np.array(RETURNS), trial_sharpes=np.array(TRIALS))

    assert out["dsr"] == pytest.approx(dsr, rel=1e-9)
    assert out["sharpe"] == pytest.approx(sr, rel=1e-12)
    assert out["sharpe_annual"] == pytest.approx(sr * math.sqrt(252), rel=1e-12)
    assert out["skewness"] == pytest.approx(g3, rel=1e-9)
    assert out["kurtosis"] == pytest.approx(g4, rel=1e-12)
    assert out["trial_sharpe_variance"] == pytest.approx(v, rel=1e-12)
    assert out["expected_max_sharpe"] == pytest.approx(sr0, rel=1e-12)
    assert out["expected_max_sharpe_annual"] == pytest.approx(sr0 * math.sqrt(252), rel=1e-12)
    assert out["n_trials"] == 5
    assert out["n_trials_dropped"] == 0
    assert out["n_periods"] == 7


@pytest.mark.parametrize("trials", [[0.2, 0.2, 0.2], [0.2], []])
def test_dsr_without_trial_spread_is_the_probabilistic_sharpe_ratio(trials: list[float]) -> None:
    sr, g3, g4 = _hand_moments(RETURNS)
    psr = PHI(sr * math.sqrt(len(RETURNS) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2))
    out = deflated_sharpe_ratio(RETURNS, trial_sharpes=trials)
    assert out["dsr"] == pytest.approx(psr, rel=1e-9)
    assert out["expected_max_sharpe"] == pytest.approx(0.0, abs=1e-15)


def test_more_trials_deflate_more() -> None:
    few = deflated_sharpe_ratio(RETURNS, trial_sharpes=[0.10, 0.12])["dsr"]
    spread = deflated_sharpe_ratio(RETURNS, trial_sharpes=[0.0, 0.3])["dsr"]
    many = deflated_sharpe_ratio(RETURNS, trial_sharpes=[0.0, 0.3] * 50)["dsr"]
    assert isinstance(few, float)
    assert isinstance(spread, float)
    assert isinstance(many, float)
    assert few > spread > many


def test_dsr_drops_undefined_trial_sharpes() -> None:
    out = deflated_sharpe_ratio(RETURNS, trial_sharpes=[0.1, math.nan, 0.3, math.inf])
    assert out["n_trials"] == 2
    assert out["n_trials_dropped"] == 2
    # sample variance of 0.1 and 0.3: ((-0.1)**2 + 0.1**2) / 1
    assert out["trial_sharpe_variance"] == pytest.approx(0.02, rel=1e-12)


@pytest.mark.parametrize("returns", [[0.01], [], [0.01] * 7])
def test_dsr_undefined_sharpe(returns: list[float]) -> None:
    out = deflated_sharpe_ratio(returns, trial_sharpes=TRIALS)
    assert out["dsr"] is None
    assert out["sharpe"] is None
    assert out["skewness"] is None
    assert out["n_periods"] == len(returns)


def test_dsr_none_when_the_spread_term_is_not_positive(monkeypatch: pytest.MonkeyPatch) -> None:
    # the term is >= (1 - g3 * SR / 2)**2 for population moments, so it reaches <= 0 only by
    # rounding; force it: SR = 1, g3 = 3, g4 = 1 give 1 - 3 * 1 + 0 / 4 * 1 = -2
    monkeypatch.setattr(overfit, "_sharpe_and_moments", lambda r: (1.0, 3.0, 1.0))
    out = deflated_sharpe_ratio(RETURNS, trial_sharpes=TRIALS)
    assert out["dsr"] is None
    assert out["sharpe"] == 1.0


# --- probability_of_backtest_overfitting --------------------------------------------------

# 8 periods x 3 trials, 4 blocks of 2 rows; trial 2 is flat (all 0) in blocks 1 and 3
MATRIX = [
    [0.020, 0.010, 0.010],
    [0.000, 0.030, -0.020],
    [0.010, 0.005, 0.000],
    [0.030, 0.015, 0.000],
    [-0.020, 0.020, 0.030],
    [0.010, 0.015, 0.010],
    [0.025, -0.005, 0.000],
    [-0.010, 0.040, 0.000],
]
BLOCKS = [[0, 1], [2, 3], [4, 5], [6, 7]]


def _hand_sharpe(matrix: list[list[float]], rows: list[int], trial: int) -> float:
    values = [matrix[i][trial] for i in rows]
    if len(set(values)) == 1:
        return -math.inf  # undefined: ranks last
    return statistics.mean(values) / statistics.stdev(values)


def _hand_cscv(
    matrix: list[list[float]], blocks: list[list[int]]
) -> tuple[list[float], list[float], list[float], int]:
    """Logits, n*'s IS and OOS Sharpe ratios and the number of OOS losses, for 4 blocks."""
    n_trials = len(matrix[0])
    logits, best_is, best_oos, losses = [], [], [], 0
    for a in range(4):
        for b in range(a + 1, 4):
            is_rows = blocks[a] + blocks[b]
            oos_rows = [i for i in range(len(matrix)) if i not in is_rows]
            is_sharpe = [_hand_sharpe(matrix, is_rows, j) for j in range(n_trials)]
            oos_sharpe = [_hand_sharpe(matrix, oos_rows, j) for j in range(n_trials)]
            best = is_sharpe.index(max(is_sharpe))
            below = sum(1 for s in oos_sharpe if s < oos_sharpe[best])
            tied = sum(1 for s in oos_sharpe if s == oos_sharpe[best])
            w = (below + (tied + 1) / 2) / (n_trials + 1)
            logits.append(math.log(w / (1 - w)))
            best_is.append(is_sharpe[best])
            best_oos.append(oos_sharpe[best])
            losses += statistics.mean(matrix[i][best] for i in oos_rows) < 0
    return logits, best_is, best_oos, losses


def test_pbo_by_hand() -> None:
    logits, best_is, best_oos, losses = _hand_cscv(MATRIX, BLOCKS)
    # the enumeration above, read off: IS blocks (0,1) (0,2) (0,3) (1,2) (1,3) (2,3) pick
    # trials 1 1 1 1 0 1, ranked 3 2 3 3 1 3 of 3 out-of-sample (in (0,2) above the flat
    # trial 2 only); w = rank / 4
    assert logits == pytest.approx(
        [math.log(3), 0.0, math.log(3), math.log(3), -math.log(3), math.log(3)]
    )

    out = probability_of_backtest_overfitting(np.array(MATRIX), n_blocks=4)

    assert out["n_combinations"] == 6
    assert out["n_blocks"] == 4
    assert out["n_trials"] == 3
    assert out["logits"] == pytest.approx(logits, rel=1e-12, abs=1e-12)
    assert out["pbo"] == pytest.approx(2 / 6)  # the logits 0 and -ln 3
    assert out["prob_oos_loss"] == losses / 6 == 0.0
    # least squares of OOS on IS over the combinations
    mx = sum(best_is) / 6
    my = sum(best_oos) / 6
    slope = sum((x - mx) * (y - my) for x, y in zip(best_is, best_oos, strict=True)) / sum(
        (x - mx) ** 2 for x in best_is
    )
    assert out["degradation_slope"] == pytest.approx(slope, rel=1e-9)
    assert out["degradation_intercept"] == pytest.approx(my - slope * mx, rel=1e-9)


def test_pbo_uneven_blocks_keep_every_row() -> None:
    # 9 rows in 4 blocks: sizes 3, 2, 2, 2 (numpy.array_split), no row dropped
    matrix = [*MATRIX, [0.005, -0.010, 0.020]]
    blocks = [[0, 1, 2], [3, 4], [5, 6], [7, 8]]
    logits, _, _, _ = _hand_cscv(matrix, blocks)
    out = probability_of_backtest_overfitting(np.array(matrix), n_blocks=4)
    assert out["logits"] == pytest.approx(logits, rel=1e-12, abs=1e-12)


def test_pbo_one_when_the_in_sample_best_is_always_the_out_of_sample_worst() -> None:
    # trial 1 mirrors trial 0. Block sums of trial 0 are 5, -1, -2, -2 (x 0.01): they add to
    # 0, so each half's mean is minus the other's, and no two blocks add to 0, so the
    # in-sample winner (positive mean) always has a negative mean out-of-sample: rank 1 of
    # 2, w = 1/3, logit ln(1/2)
    trial = [0.03, 0.02, 0.00, -0.01, -0.005, -0.015, -0.015, -0.005]
    matrix = np.array([[x, -x] for x in trial])
    out = probability_of_backtest_overfitting(matrix, n_blocks=4)
    assert out["pbo"] == 1.0
    assert out["logits"] == pytest.approx([math.log(0.5)] * 6)
    assert out["prob_oos_loss"] == 1.0


def test_pbo_zero_when_one_trial_dominates_every_block() -> None:
    # same noise, means shifted by 0.02 / 0.01 / 0: in every half the first trial has the
    # same standard deviation and a higher mean, so it wins both halves: rank 3 of 3,
    # w = 3/4, logit ln 3
    noise = [0.01, -0.02, 0.005, 0.015, -0.01, 0.0, 0.02, -0.005]
    matrix = np.array([[z + 0.02, z + 0.01, z] for z in noise])
    out = probability_of_backtest_overfitting(matrix, n_blocks=4)
    assert out["pbo"] == 0.0
    assert out["logits"] == pytest.approx([math.log(3)] * 6)
    assert out["prob_oos_loss"] == 0.0


def test_pbo_undefined_sharpe_ties_out_of_sample() -> None:
    # 2 blocks of 2 rows. Trials 1 and 2 are flat (0) in block 1.
    # IS block 0: Sharpe 0.02/0.01414 = 1.41, 0.055/0.00707 = 7.78, 0 -> n* = 1;
    #   OOS block 1: 0.005/0.0212 = 0.24, -inf, -inf -> rank 0 + (2 + 1)/2 = 1.5, w = 0.375
    # IS block 1: 0.24, -inf, -inf -> n* = 0; OOS block 0: 1.41 of 1.41, 7.78, 0 -> rank 2,
    #   w = 0.5, logit 0 (counts as overfit: lambda <= 0)
    matrix = np.array(
        [
            [0.01, 0.05, -0.01],
            [0.03, 0.06, 0.01],
            [0.02, 0.00, 0.00],
            [-0.01, 0.00, 0.00],
        ]
    )
    out = probability_of_backtest_overfitting(matrix, n_blocks=2)
    assert out["logits"] == pytest.approx([math.log(0.375 / 0.625), 0.0], abs=1e-12)
    assert out["pbo"] == 1.0
    # n*'s OOS means are 0 (flat) and 0.02: no loss
    assert out["prob_oos_loss"] == 0.0
    # one combination with both Sharpe ratios defined: no line
    assert out["degradation_slope"] is None
    assert out["degradation_intercept"] is None


def test_pbo_in_sample_ties_go_to_the_lowest_index() -> None:
    # block 0 flat for both trials: both -inf in-sample, so n* = 0; OOS block 1:
    # 0.015/0.00707 = 2.12 against 0.02/0.01414 = 1.41 -> rank 2 of 2, w = 2/3, logit ln 2
    # (trial 1 would give ln 1/2). IS block 1: n* = 0 again; OOS block 0: both -inf,
    # rank 1.5, w = 1/2, logit 0
    matrix = np.array([[0.0, 0.0], [0.0, 0.0], [0.01, 0.03], [0.02, 0.01]])
    out = probability_of_backtest_overfitting(matrix, n_blocks=2)
    assert out["logits"] == pytest.approx([math.log(2), 0.0], abs=1e-12)


def test_pbo_default_blocks() -> None:
    rng = np.random.default_rng(7)
    out = probability_of_backtest_overfitting(rng.normal(0.0, 0.01, (64, 5)))
    logits, pbo = out["logits"], out["pbo"]
    assert out["n_blocks"] == 16
    assert isinstance(logits, list)
    assert out["n_combinations"] == math.comb(16, 8) == len(logits)
    assert isinstance(pbo, float)
    assert 0.0 <= pbo <= 1.0


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_trials", "variance", "name"),
    [
        (0, 0.25, "n_trials"),
        (2.0, 0.25, "n_trials"),
        (True, 0.25, "n_trials"),
        (10, -0.1, "sharpe_variance"),
        (10, math.nan, "sharpe_variance"),
        (10, math.inf, "sharpe_variance"),
        (10, "0.25", "sharpe_variance"),
    ],
)
def test_expected_max_sharpe_errors(n_trials: object, variance: object, name: str) -> None:
    with pytest.raises(ConfigError, match=f"`{name}`"):
        expected_max_sharpe(n_trials, variance)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("returns", "trials", "name"),
    [
        ([0.01, math.nan, 0.02], TRIALS, "returns"),
        ([0.01, math.inf, 0.02], TRIALS, "returns"),
        ([[0.01, 0.02], [0.03, 0.04]], TRIALS, "returns"),
        (["a", "b"], TRIALS, "returns"),
        (RETURNS, [[0.1, 0.2]], "trial_sharpes"),
    ],
)
def test_deflated_sharpe_ratio_errors(returns: object, trials: object, name: str) -> None:
    with pytest.raises(ConfigError, match=f"`{name}`"):
        deflated_sharpe_ratio(returns, trial_sharpes=trials)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("matrix", "n_blocks", "name"),
    [
        (MATRIX, 3, "n_blocks"),
        (MATRIX, 0, "n_blocks"),
        (MATRIX, 2.0, "n_blocks"),
        (MATRIX, 6, "returns_matrix"),  # 8 rows < 2 * 6
        ([row[:1] for row in MATRIX], 4, "returns_matrix"),  # one trial
        ([1.0, 2.0, 3.0, 4.0], 2, "returns_matrix"),  # 1-D
        ([*MATRIX[:7], [0.0, math.nan, 0.0]], 4, "returns_matrix"),
    ],
)
def test_pbo_errors(matrix: object, n_blocks: object, name: str) -> None:
    with pytest.raises(ConfigError, match=f"`{name}`"):
        probability_of_backtest_overfitting(matrix, n_blocks=n_blocks)  # type: ignore[arg-type]
