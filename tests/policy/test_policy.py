"""Layer-3 policy: score formula, multipliers, decision rules, sizing, missing values, schema."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from m002.exceptions import ConfigError, SchemaError
from m002.policy import (
    POLICY_COLUMNS,
    Action,
    MultiplierScope,
    PolicyConfig,
    ScoreForm,
    ShortGate,
    apply_policy,
    required_columns,
    soft_policy_score,
    symmetric_policy_score,
)


def spec_policy(**changes: Any) -> PolicyConfig:
    """The spec's layer 3 (``lambda`` 0.5, one score) with ``changes``: the values worked out
    by hand below assume it."""
    return dataclasses.replace(PolicyConfig.spec(), **changes)


START = dt.date(2020, 1, 1)

# a row that goes LONG with the default config at vol 0.02: score 0.6*0.02 - 0.5*0.01 = 0.007
BASE_ROW: dict[str, Any] = {
    "pred_rebound_prob": 0.6,
    "pred_expected_ret_pct": 2.0,
    "pred_expected_dd_pct": -1.0,
    "atr_smooth": 0.02,
    "I_vr_and_vs": 0,
    "I_bd_late": 0,
    "I_bd_early": 0,
    "state_prob_Peak": 0.1,
}
# a row with a negative score: 0.5*0.2/100 - 0.5*2/100 = 0.001 - 0.01 = -0.009
NEG_ROW: dict[str, Any] = {
    **BASE_ROW,
    "pred_rebound_prob": 0.5,
    "pred_expected_ret_pct": 0.2,
    "pred_expected_dd_pct": -2.0,
}
# a row the symmetric form shorts: G = 0.2 * -5 / 100 = -0.01, run-up U = -5 - (-6) = 1 (%),
# short score S = -0.01 + 0.5 * 0.01 = -0.005; long score L = -0.01 - 0.5 * 0.06 = -0.04
SYM_SHORT_ROW: dict[str, Any] = {
    **BASE_ROW,
    "pred_rebound_prob": 0.2,
    "pred_expected_ret_pct": -5.0,
    "pred_expected_dd_pct": -6.0,
}
SYMMETRIC = spec_policy(vol_window=1, score_form=ScoreForm.SYMMETRIC)
SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "date": pl.Date(),
    "pred_rebound_prob": pl.Float64(),
    "pred_expected_ret_pct": pl.Float64(),
    "pred_expected_dd_pct": pl.Float64(),
    "atr_smooth": pl.Float64(),
    "I_vr_and_vs": pl.Int8(),
    "I_bd_late": pl.Int8(),
    "I_bd_early": pl.Int8(),
    "state_prob_Peak": pl.Float64(),
}


def frame_of(rows: list[dict[str, Any]], ticker: str = "A") -> pl.DataFrame:
    """One ticker, consecutive dates, missing keys taken from `BASE_ROW`."""
    data = [
        {"ticker": ticker, "date": START + dt.timedelta(days=i), **BASE_ROW, **row}
        for i, row in enumerate(rows)
    ]
    return pl.DataFrame(data, schema=SCHEMA)


def one_row(config: PolicyConfig | None = None, /, **row: Any) -> dict[str, Any]:
    """Apply the policy to a single row with ``vol_window=1`` (ex_ante_vol = atr_smooth)."""
    cfg = spec_policy(vol_window=1) if config is None else config
    return apply_policy(frame_of([row]), cfg).row(0, named=True)


# --- the score ----------------------------------------------------------------------------


ScoreFunction = Callable[..., pl.Expr]
SPEC_CASES = [
    (0.6, 2.0, -3.0, 0.5, 0.6 * 0.02 - 0.5 * 0.03),  # drawdown penalised
    (0.6, 2.0, 1.5, 0.5, 0.6 * 0.02),  # dd >= 0: no penalty
    (0.4, -1.0, -2.0, 2.0, 0.4 * -0.01 - 2.0 * 0.02),
    (0.9, 3.0, -4.0, 0.0, 0.9 * 0.03),  # no risk aversion
    (0.5, 1.0, 0.0, 0.5, 0.005),
]
# G = p * ret / 100, L = G - lam * max(0, -dd / 100), S = G + lam * max(0, (ret - min(dd, 0)) / 100)
SYMMETRIC_CASES = [
    (0.6, 2.0, -1.0, 0.5, 0.007),  # L = 0.012 - 0.005 > 0: the long's score
    (0.2, -5.0, -6.0, 0.5, -0.005),  # S = -0.01 + 0.005 < 0: the short's score
    (0.5, 0.2, -2.0, 0.5, 0.0),  # L = -0.009, S = 0.012: neither side
    (0.9, -3.0, 0.0, 0.0, 0.9 * -0.03),  # no risk aversion: L = S = G
    (0.1, -4.0, -1.0, 0.5, -0.004),  # ret < dd (no path does that): run-up clipped to 0
    (0.5, 1.0, 1.5, 0.5, 0.005),  # dd > 0 counts as 0 on both sides: L = 0.005
    (0.5, 0.0, 0.0, 0.5, 0.0),
]
SCORES = [soft_policy_score, symmetric_policy_score]


@pytest.mark.parametrize(
    ("score", "p", "ret", "dd", "lam", "expected"),
    [(soft_policy_score, *case) for case in SPEC_CASES]
    + [(symmetric_policy_score, *case) for case in SYMMETRIC_CASES],
)
def test_score_formulas(
    score: ScoreFunction, p: float, ret: float, dd: float, lam: float, expected: float
) -> None:
    df = pl.DataFrame({"p": [p], "ret": [ret], "dd": [dd]})
    by_name = df.select(score("p", "ret", "dd", risk_aversion=lam)).item()
    by_expr = df.select(score(pl.col("p"), pl.col("ret"), pl.col("dd"), risk_aversion=lam)).item()
    assert by_name == pytest.approx(expected, abs=1e-15)
    assert by_expr == by_name


@pytest.mark.parametrize("score", SCORES)
def test_score_null_in_null_out(score: ScoreFunction) -> None:
    df = pl.DataFrame(
        {"p": [None, 0.5, 0.5], "ret": [1.0, None, 1.0], "dd": [-1.0, -1.0, None]},
        schema={"p": pl.Float64, "ret": pl.Float64, "dd": pl.Float64},
    )
    out = df.select(score("p", "ret", "dd", risk_aversion=0.5)).to_series()
    assert out.to_list() == [None, None, None]


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("lam", [-0.1, math.nan, math.inf])
def test_score_rejects_bad_lambda(score: ScoreFunction, lam: float) -> None:
    with pytest.raises(ConfigError, match="`risk_aversion` must be"):
        score("p", "ret", "dd", risk_aversion=lam)


# --- event multipliers: a long's score only ---------------------------------------------


@pytest.mark.parametrize("scope", list(MultiplierScope))
@pytest.mark.parametrize(
    ("vr", "late", "factor"),
    [(0, 0, 1.0), (1, 0, 0.8), (0, 1, 1.1), (1, 1, 0.8 * 1.1), (None, None, 1.0)],
)
def test_event_multipliers_scale_a_long(
    scope: MultiplierScope, vr: int | None, late: int | None, factor: float
) -> None:
    cfg = spec_policy(vol_window=1, multiplier_scope=scope)
    out = one_row(cfg, I_vr_and_vs=vr, I_bd_late=late)
    assert out["policy_score"] == pytest.approx(0.007 * factor, abs=1e-15)
    assert out["position_size"] == pytest.approx(2.0 * 0.007 * factor / 0.02)


def test_multipliers_come_from_config() -> None:
    cfg = spec_policy(vol_window=1, overheat_multiplier=0.5, late_breakdown_multiplier=2.0)
    assert one_row(cfg, I_vr_and_vs=1)["policy_score"] == pytest.approx(0.0035, abs=1e-15)
    assert one_row(cfg, I_bd_late=1)["policy_score"] == pytest.approx(0.014, abs=1e-15)
    assert one_row(cfg, I_vr_and_vs=1, I_bd_late=1)["policy_score"] == pytest.approx(
        0.007, abs=1e-15
    )


@pytest.mark.parametrize(("vr", "late"), [(1, 0), (0, 1), (1, 1)])
def test_multipliers_never_move_a_short_by_default(vr: int, late: int) -> None:
    # spec form: the one score -0.009 is not positive, so neither factor applies
    out = one_row(**{**NEG_ROW, "I_bd_early": 1, "I_vr_and_vs": vr, "I_bd_late": late})
    assert out["policy_score"] == pytest.approx(-0.009, abs=1e-15)
    assert (out["action"], out["position_size"]) == (Action.SHORT, pytest.approx(-0.9))
    # symmetric form: the short score -0.005 is never scaled
    row = {**SYM_SHORT_ROW, "I_bd_early": 1, "I_vr_and_vs": vr, "I_bd_late": late}
    out = one_row(SYMMETRIC, **row)
    assert out["policy_score"] == pytest.approx(-0.005, abs=1e-15)
    assert (out["action"], out["position_size"]) == (Action.SHORT, pytest.approx(-0.5))


@pytest.mark.parametrize(("vr", "late", "factor"), [(1, 0, 0.8), (0, 1, 1.1), (1, 1, 0.8 * 1.1)])
def test_any_sign_scope_reproduces_the_spec_literal_scaling(
    vr: int, late: int, factor: float
) -> None:
    # the behaviour before the fix: I_bd_late enlarged a short x1.1, I_vr_and_vs shrank it
    cfg = spec_policy(vol_window=1, multiplier_scope=MultiplierScope.ANY_SIGN)
    out = one_row(cfg, **{**NEG_ROW, "I_bd_early": 1, "I_vr_and_vs": vr, "I_bd_late": late})
    assert out["policy_score"] == pytest.approx(-0.009 * factor, abs=1e-15)
    assert out["position_size"] == pytest.approx(2.0 * -0.009 * factor / 0.02)
    cfg = spec_policy(vol_window=1, score_form="symmetric", multiplier_scope="any_sign")
    row = {**SYM_SHORT_ROW, "I_bd_early": 1, "I_vr_and_vs": vr, "I_bd_late": late}
    assert one_row(cfg, **row)["policy_score"] == pytest.approx(-0.005 * factor, abs=1e-15)


def test_multipliers_move_a_long_across_its_threshold() -> None:
    # 0.5 * 0.19 / 100 = 0.00095 < theta_long; x1.1 = 0.001045 clears it
    row = {"pred_rebound_prob": 0.5, "pred_expected_ret_pct": 0.19, "pred_expected_dd_pct": 0.0}
    assert one_row(**row)["action"] == Action.FLAT
    out = one_row(**row, I_bd_late=1)
    assert out["policy_score"] == pytest.approx(0.001045, abs=1e-15)
    assert out["action"] == Action.LONG
    # 0.5 * 0.24 / 100 = 0.0012 clears it; x0.8 = 0.00096 does not
    row["pred_expected_ret_pct"] = 0.24
    assert one_row(**row)["action"] == Action.LONG
    out = one_row(**row, I_vr_and_vs=1)
    assert out["policy_score"] == pytest.approx(0.00096, abs=1e-15)
    assert (out["action"], out["position_size"]) == (Action.FLAT, 0.0)


def test_the_spec_score_is_reproduced_exactly_by_name() -> None:
    # score_form="spec", short_gate="spec", multiplier_scope="any_sign": the rules before
    # the fix; every number below is computed by hand from spec 4.1 / 4.2
    cfg = spec_policy(
        vol_window=1,
        score_form=ScoreForm.SPEC,
        short_gate=ShortGate.SPEC,
        multiplier_scope=MultiplierScope.ANY_SIGN,
    )
    frame = frame_of(
        [
            {},  # 0.007: LONG 0.7
            {"I_vr_and_vs": 1, "I_bd_late": 1},  # 0.007 * 0.88 = 0.00616: LONG 0.616
            {**NEG_ROW, "I_bd_early": 1},  # -0.009: SHORT -0.9
            {**NEG_ROW, "I_bd_late": 1, "state_prob_Peak": 0.6},  # -0.0099: SHORT -0.99
            {**NEG_ROW},  # -0.009, no gate: FLAT
            {**SYM_SHORT_ROW, "I_bd_early": 1},  # -0.04: SHORT, clipped to -1
        ]
    )
    out = apply_policy(frame, cfg)
    expected_score = [0.007, 0.00616, -0.009, -0.0099, -0.009, -0.04]
    assert out["policy_score"].to_list() == pytest.approx(expected_score, abs=1e-15)
    assert out["action"].to_list() == ["LONG", "LONG", "SHORT", "SHORT", "FLAT", "SHORT"]
    assert out["position_size"].to_list() == pytest.approx([0.7, 0.616, -0.9, -0.99, 0.0, -1.0])


# --- the symmetric score ------------------------------------------------------------------


def test_symmetric_long_equals_the_spec_long() -> None:
    assert one_row(SYMMETRIC) == one_row()  # policy_score 0.007, LONG 0.7 in both forms


def test_symmetric_short_pays_for_the_run_up() -> None:
    out = one_row(SYMMETRIC, **{**SYM_SHORT_ROW, "I_bd_early": 1})
    assert out["policy_score"] == pytest.approx(-0.005, abs=1e-15)
    assert out["action"] == Action.SHORT
    assert out["position_size"] == pytest.approx(2.0 * -0.005 / 0.02)  # -0.5
    # the spec's one score makes the same row a far larger short, -0.04 (size clipped to -1)
    spec = one_row(**{**SYM_SHORT_ROW, "I_bd_early": 1})
    assert (spec["policy_score"], spec["position_size"]) == (pytest.approx(-0.04), -1.0)


def test_symmetric_does_not_short_a_drawdown_alone() -> None:
    # NEG_ROW: G = 0.001 > 0 with a 2% drawdown expected; the spec shorts it (-0.009), the
    # symmetric form sees no gain for either side (S = 0.001 + 0.5 * 0.022 = 0.012)
    row = {**NEG_ROW, "I_bd_early": 1, "state_prob_Peak": 0.9}
    assert one_row(**row)["action"] == Action.SHORT
    out = one_row(SYMMETRIC, **row)
    assert (out["policy_score"], out["action"], out["position_size"]) == (0.0, Action.FLAT, 0.0)


def test_symmetric_thresholds_apply_to_each_side() -> None:
    # S = -0.005: a SHORT at theta_short = -0.005, FLAT at -0.0051
    row = {**SYM_SHORT_ROW, "I_bd_early": 1}
    cfg = spec_policy(vol_window=1, score_form="symmetric", theta_short=-0.005)
    assert one_row(cfg, **row)["action"] == Action.SHORT
    cfg = spec_policy(vol_window=1, score_form="symmetric", theta_short=-0.0051)
    assert one_row(cfg, **row)["action"] == Action.FLAT
    # L = 0.007: a LONG at theta_long = 0.007, FLAT just above
    assert (
        one_row(spec_policy(vol_window=1, score_form="symmetric", theta_long=0.007))["action"]
        == Action.LONG
    )
    assert (
        one_row(spec_policy(vol_window=1, score_form="symmetric", theta_long=0.0071))["action"]
        == Action.FLAT
    )


def test_symmetric_dead_zone_is_flat_at_zero_thresholds() -> None:
    # policy_score 0 (neither side gains) reads as no side: FLAT even at theta_long = 0,
    # where the spec's rule on policy_score alone would call it a zero-size LONG
    cfg = spec_policy(vol_window=1, score_form="symmetric", theta_long=0.0, theta_short=0.0)
    out = one_row(cfg, **{**NEG_ROW, "I_bd_early": 1})
    assert (out["policy_score"], out["action"], out["position_size"]) == (0.0, Action.FLAT, 0.0)


def test_symmetric_short_caps_a_positive_drawdown_at_zero() -> None:
    # thresholds on the wrong side of 0 make the short score itself visible: P 0.5, ret 1,
    # dd +2 (no target is > 0): S = 0.005 + 0.5 * (1 - 0) / 100 = 0.01 > theta_short = 0.008;
    # without the cap the run-up would be 1 - 2 < 0, S = 0.005 and the row a SHORT
    cfg = spec_policy(vol_window=1, score_form="symmetric", theta_long=0.05, theta_short=0.008)
    row = {"pred_rebound_prob": 0.5, "pred_expected_ret_pct": 1.0, "pred_expected_dd_pct": 2.0}
    out = one_row(cfg, **row, I_bd_early=1)
    assert out["policy_score"] == pytest.approx(0.005, abs=1e-15)
    assert out["action"] == Action.FLAT


# --- the short gate ------------------------------------------------------------------------


def test_score_gate_needs_no_event() -> None:
    # NEG_ROW has neither I_bd_early nor a peak: the spec gate keeps it FLAT, the score opens
    assert one_row(**NEG_ROW)["action"] == Action.FLAT
    cfg = spec_policy(vol_window=1, short_gate=ShortGate.SCORE)
    out = one_row(cfg, **NEG_ROW)
    assert (out["action"], out["position_size"]) == (Action.SHORT, pytest.approx(-0.9))
    assert one_row(SYMMETRIC, **SYM_SHORT_ROW)["action"] == Action.FLAT
    cfg = spec_policy(vol_window=1, score_form="symmetric", short_gate="score")
    out = one_row(cfg, **SYM_SHORT_ROW)
    assert (out["action"], out["position_size"]) == (Action.SHORT, pytest.approx(-0.5))


def test_score_gate_still_needs_the_threshold_and_allow_short() -> None:
    cfg = spec_policy(vol_window=1, short_gate="score")
    # score 0.0005 is above theta_short: FLAT whatever the gate
    row = {"pred_rebound_prob": 0.5, "pred_expected_ret_pct": 0.1, "pred_expected_dd_pct": 0.0}
    assert one_row(cfg, **row)["action"] == Action.FLAT
    cfg = spec_policy(vol_window=1, short_gate="score", allow_short=False)
    out = one_row(cfg, **NEG_ROW)
    assert (out["action"], out["position_size"]) == (Action.FLAT, 0.0)


def test_spec_gate_ignores_a_peak_below_threshold_with_the_symmetric_score() -> None:
    row = {**SYM_SHORT_ROW, "state_prob_Peak": 0.49}
    assert one_row(SYMMETRIC, **row)["action"] == Action.FLAT
    assert one_row(SYMMETRIC, **{**row, "state_prob_Peak": 0.5})["action"] == Action.SHORT


# --- actions and sizes --------------------------------------------------------------------


def test_long() -> None:
    out = one_row()
    assert out["action"] == Action.LONG
    assert out["ex_ante_vol"] == pytest.approx(0.02)
    assert out["position_size"] == pytest.approx(2.0 * 0.007 / 0.02)  # 0.7


def test_long_at_threshold_exactly() -> None:
    # score = 0.5 * 0.2 / 100 = 0.001 = theta_long, no drawdown
    out = one_row(pred_rebound_prob=0.5, pred_expected_ret_pct=0.2, pred_expected_dd_pct=0.0)
    assert out["policy_score"] == pytest.approx(0.001, abs=1e-18)
    cfg = spec_policy(vol_window=1, theta_long=out["policy_score"])
    out = one_row(cfg, pred_rebound_prob=0.5, pred_expected_ret_pct=0.2, pred_expected_dd_pct=0.0)
    assert out["action"] == Action.LONG


def test_short_via_breakdown_early() -> None:
    out = one_row(**{**NEG_ROW, "I_bd_early": 1})
    assert out["policy_score"] == pytest.approx(-0.009, abs=1e-15)
    assert out["action"] == Action.SHORT
    assert out["position_size"] == pytest.approx(2.0 * -0.009 / 0.02)  # -0.9


def test_short_via_peak_probability() -> None:
    out = one_row(**{**NEG_ROW, "state_prob_Peak": 0.5})  # at the threshold: counts
    assert out["action"] == Action.SHORT
    assert out["position_size"] == pytest.approx(-0.9)
    cfg = spec_policy(vol_window=1, peak_prob_threshold=0.7)
    assert one_row(cfg, **{**NEG_ROW, "state_prob_Peak": 0.69})["action"] == Action.FLAT


def test_negative_score_without_short_condition_is_flat() -> None:
    out = one_row(**NEG_ROW)  # Peak 0.1, I_bd_early 0
    assert out["action"] == Action.FLAT
    assert out["position_size"] == 0.0
    # a null Peak probability and a null flag are "not a peak" and "no event"
    out = one_row(**{**NEG_ROW, "state_prob_Peak": None, "I_bd_early": None})
    assert out["action"] == Action.FLAT
    assert out["position_size"] == 0.0
    # NaN is not a peak either (polars orders NaN above every number)
    out = one_row(**{**NEG_ROW, "state_prob_Peak": math.nan})
    assert out["action"] == Action.FLAT


def test_flat_between_thresholds() -> None:
    # score = 0.5 * 0.1 / 100 = 0.0005, inside (theta_short, theta_long)
    out = one_row(
        pred_rebound_prob=0.5, pred_expected_ret_pct=0.1, pred_expected_dd_pct=0.0, I_bd_early=1
    )
    assert out["policy_score"] == pytest.approx(0.0005, abs=1e-15)
    assert out["action"] == Action.FLAT
    assert out["position_size"] == 0.0


def test_allow_short_false_makes_short_flat() -> None:
    cfg = spec_policy(vol_window=1, allow_short=False)
    out = one_row(cfg, **{**NEG_ROW, "I_bd_early": 1, "state_prob_Peak": 0.9})
    assert out["action"] == Action.FLAT
    assert out["position_size"] == 0.0
    assert one_row(cfg)["action"] == Action.LONG  # longs unaffected


@pytest.mark.parametrize("size_max", [0.25, 0.5, 1.0])
def test_clipping_at_size_max(size_max: float) -> None:
    cfg = spec_policy(vol_window=1, k=10.0, size_max=size_max)
    assert one_row(cfg)["position_size"] == size_max  # 10 * 0.007 / 0.02 = 3.5
    short = one_row(cfg, **{**NEG_ROW, "I_bd_early": 1})
    assert short["position_size"] == -size_max


def test_sign_clip_when_thresholds_cross_zero() -> None:
    # theta_long < 0: a LONG on a negative score keeps its action with size 0, never < 0
    cfg = spec_policy(vol_window=1, theta_long=-0.02, theta_short=-0.03)
    out = one_row(cfg, **NEG_ROW)
    assert (out["action"], out["position_size"]) == (Action.LONG, 0.0)
    # theta_short > 0: a SHORT on a positive score has size 0, never > 0
    cfg = spec_policy(vol_window=1, theta_long=0.05, theta_short=0.04)
    out = one_row(cfg, I_bd_early=1)
    assert (out["action"], out["position_size"]) == (Action.SHORT, 0.0)


@pytest.mark.parametrize("atr", [0.0, -0.01, None, math.nan, math.inf])
def test_no_volatility_estimate_is_flat(atr: float | None) -> None:
    out = one_row(atr_smooth=atr)
    assert out["action"] == Action.FLAT
    assert out["position_size"] == 0.0
    assert out["policy_score"] == pytest.approx(0.007)  # the score is still reported
    assert out["ex_ante_vol"] is None or out["ex_ante_vol"] <= 0.0


@pytest.mark.parametrize("form", list(ScoreForm))
@pytest.mark.parametrize(
    "column", ["pred_rebound_prob", "pred_expected_ret_pct", "pred_expected_dd_pct"]
)
@pytest.mark.parametrize("value", [None, math.nan, -math.inf])
def test_missing_prediction_is_flat(form: ScoreForm, column: str, value: float | None) -> None:
    cfg = spec_policy(vol_window=1, score_form=form, short_gate="score")
    out = one_row(cfg, **{column: value, "I_bd_early": 1, "state_prob_Peak": 1.0})
    assert out["policy_score"] is None
    assert out["action"] == Action.FLAT
    assert out["position_size"] == 0.0


# --- ex-ante volatility -------------------------------------------------------------------


def test_ex_ante_vol_rolls_within_each_ticker() -> None:
    a = frame_of([{"atr_smooth": x} for x in [0.01, 0.02, 0.03, 0.04]], ticker="A")
    b = frame_of([{"atr_smooth": x} for x in [0.10, 0.20, 0.30]], ticker="B")
    # shuffled input, B before A: the output is sorted and the window never crosses tickers
    frame = pl.concat([b, a]).sample(fraction=1.0, shuffle=True, seed=3)
    out = apply_policy(frame, spec_policy(vol_window=3))
    assert out["ticker"].to_list() == ["A"] * 4 + ["B"] * 3
    assert out["date"].to_list() == sorted(a["date"]) + sorted(b["date"])
    vol = out["ex_ante_vol"].to_list()
    expected = [None, None, 0.02, 0.03, None, None, 0.2]
    for got, want in zip(vol, expected, strict=True):
        assert got == (None if want is None else pytest.approx(want, abs=1e-15))
    # rows before the window is full are FLAT
    assert out["action"].to_list() == ["FLAT", "FLAT", "LONG", "LONG", "FLAT", "FLAT", "LONG"]
    sizes = out["position_size"].to_list()
    assert sizes[2] == pytest.approx(2 * 0.007 / 0.02)
    assert sizes[3] == pytest.approx(2 * 0.007 / 0.03)
    assert sizes[6] == pytest.approx(2 * 0.007 / 0.2)


def test_null_atr_nulls_its_windows() -> None:
    frame = frame_of([{"atr_smooth": x} for x in [0.01, None, 0.03, 0.05, 0.07]])
    out = apply_policy(frame, spec_policy(vol_window=2))
    vol = out["ex_ante_vol"].to_list()
    assert vol[:3] == [None, None, None]
    assert vol[3:] == [pytest.approx(0.04), pytest.approx(0.06)]


# --- the frame contract -------------------------------------------------------------------


def test_output_columns_and_types() -> None:
    frame = frame_of([{}, {}]).with_columns(pl.lit(1).alias("extra"))
    out = apply_policy(frame, spec_policy(vol_window=1))
    assert out.columns == [*frame.columns, *POLICY_COLUMNS]
    assert out.select(POLICY_COLUMNS).dtypes == [pl.Float64, pl.Float64, pl.String, pl.Float64]
    assert out.select(frame.columns).equals(frame)
    # applying again replaces the policy columns instead of adding more
    again = apply_policy(out, spec_policy(vol_window=1, k=1.0))
    assert again.columns == out.columns
    assert again["position_size"].to_list() == pytest.approx([0.35, 0.35])


def test_lazy_in_lazy_out() -> None:
    frame = frame_of([{}, {}, {}])
    lazy = apply_policy(frame.lazy(), spec_policy(vol_window=2))
    assert isinstance(lazy, pl.LazyFrame)
    eager = apply_policy(frame, spec_policy(vol_window=2))
    assert isinstance(eager, pl.DataFrame)
    assert lazy.collect().equals(eager)


def test_empty_frame() -> None:
    out = apply_policy(pl.DataFrame(schema=SCHEMA))
    assert out.height == 0
    assert out.columns == [*SCHEMA, *POLICY_COLUMNS]


def test_missing_columns_are_named() -> None:
    frame = frame_of([{}]).drop("state_prob_Peak", "atr_smooth")
    with pytest.raises(SchemaError, match=r"2 column\(s\).*'atr_smooth', 'state_prob_Peak'"):
        apply_policy(frame)
    with pytest.raises(SchemaError, match="atr_smooth"):
        apply_policy(frame.lazy())


def test_required_columns() -> None:
    assert set(required_columns()) == set(SCHEMA)


def test_action_values() -> None:
    assert [a.value for a in Action] == ["LONG", "SHORT", "FLAT"]
    assert Action("SHORT") is Action.SHORT


# --- config -------------------------------------------------------------------------------


def test_default_config() -> None:
    cfg = PolicyConfig()
    # the shipped configuration: the symmetric score with a small lambda
    assert (cfg.risk_aversion, cfg.k, cfg.size_max, cfg.vol_window) == (0.05, 2.0, 1.0, 10)
    assert cfg.theta_short <= 0 < cfg.theta_long
    assert cfg.score_form is ScoreForm.SYMMETRIC
    assert cfg.short_gate is ShortGate.SPEC
    assert cfg.multiplier_scope is MultiplierScope.LONG_ONLY
    # the spec's own layer 3, by name
    spec = PolicyConfig.spec()
    assert (spec.risk_aversion, spec.score_form) == (0.5, ScoreForm.SPEC)
    assert dataclasses.replace(spec, risk_aversion=0.05, score_form="symmetric") == cfg
    # the documented scale of k: score 0.002 at vol 0.02 -> size 0.2
    assert cfg.k * 0.002 / 0.02 == pytest.approx(0.2)
    with pytest.raises(AttributeError):
        cfg.k = 3.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"risk_aversion": -0.1}, "`risk_aversion` must be >= 0.0, got `risk_aversion=-0.1`"),
        ({"k": 0.0}, "`k` must be > 0, got `k=0.0`"),
        ({"k": -1}, "`k` must be > 0, got `k=-1`"),
        ({"size_max": 0}, "`size_max` must be > 0, got `size_max=0`"),
        ({"peak_prob_threshold": 1.5}, "`peak_prob_threshold` must be <= 1"),
        ({"peak_prob_threshold": -0.1}, "`peak_prob_threshold` must be >= 0.0"),
        ({"overheat_multiplier": -0.8}, "`overheat_multiplier` must be >= 0.0"),
        ({"late_breakdown_multiplier": -1.0}, "`late_breakdown_multiplier` must be >= 0.0"),
        ({"vol_window": 0}, "`vol_window` must be >= 1, got `vol_window=0`"),
        ({"vol_window": 2.5}, "`vol_window` must be an int, got `vol_window=2.5`"),
        ({"vol_window": True}, "`vol_window` must be an int"),
        ({"allow_short": 1}, "`allow_short` must be a bool, got `allow_short=1`"),
        ({"k": "2"}, "`k` must be a number, got `k='2'`"),
        ({"theta_long": math.nan}, "`theta_long` must be finite, got `theta_long=nan`"),
        ({"size_max": math.inf}, "`size_max` must be finite"),
        (
            {"score_form": "symetric"},
            "`score_form` must be one of 'spec', 'symmetric', got `score_form='symetric'`",
        ),
        ({"score_form": 1}, "`score_form` must be a string, got `score_form=1`"),
        (
            {"short_gate": "peak"},
            "`short_gate` must be one of 'spec', 'score', got `short_gate='peak'`",
        ),
        # a member of another choice is a mix-up even where its string would match
        ({"short_gate": ScoreForm.SPEC}, "`short_gate` must be one of 'spec', 'score'"),
        (
            {"multiplier_scope": "LONG_ONLY"},
            "`multiplier_scope` must be one of 'long_only', 'any_sign', "
            "got `multiplier_scope='LONG_ONLY'`",
        ),
        ({"multiplier_scope": None}, "`multiplier_scope` must be a string"),
        (
            {"theta_short": 0.01, "theta_long": 0.001},
            "`theta_short` must be <= `theta_long`, got `theta_short=0.01`, `theta_long=0.001`",
        ),
    ],
)
def test_config_validation(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        spec_policy(**kwargs)
    assert message in str(info.value)


def test_config_choices_accept_strings_and_hold_enums() -> None:
    cfg = spec_policy(score_form="symmetric", short_gate="score", multiplier_scope="any_sign")
    assert cfg.score_form is ScoreForm.SYMMETRIC
    assert cfg.short_gate is ShortGate.SCORE
    assert cfg.multiplier_scope is MultiplierScope.ANY_SIGN
    assert cfg == spec_policy(
        score_form=ScoreForm.SYMMETRIC,
        short_gate=ShortGate.SCORE,
        multiplier_scope=MultiplierScope.ANY_SIGN,
    )
    assert [f.value for f in ScoreForm] == ["spec", "symmetric"]
    assert [g.value for g in ShortGate] == ["spec", "score"]
    assert [m.value for m in MultiplierScope] == ["long_only", "any_sign"]


def test_config_accepts_equal_thresholds_and_ints() -> None:
    cfg = spec_policy(theta_long=0, theta_short=0, k=1, size_max=2)
    out = one_row(spec_policy(vol_window=1, theta_long=0, theta_short=0), I_bd_early=1)
    assert cfg.theta_long == cfg.theta_short
    assert out["action"] == Action.LONG  # LONG wins where the thresholds meet


# --- invariants ---------------------------------------------------------------------------

maybe_float = st.one_of(
    st.none(),
    st.just(math.nan),
    st.floats(min_value=-50.0, max_value=50.0, allow_nan=False),
)
maybe_flag = st.one_of(st.none(), st.sampled_from([0, 1]))
random_row = st.fixed_dictionaries(
    {
        "pred_rebound_prob": st.one_of(st.none(), st.floats(0.0, 1.0)),
        "pred_expected_ret_pct": maybe_float,
        "pred_expected_dd_pct": maybe_float,
        "atr_smooth": st.one_of(st.none(), st.floats(-0.01, 0.2, allow_nan=False)),
        "I_vr_and_vs": maybe_flag,
        "I_bd_late": maybe_flag,
        "I_bd_early": maybe_flag,
        "state_prob_Peak": st.one_of(st.none(), st.floats(0.0, 1.0)),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows_a=st.lists(random_row, min_size=0, max_size=12),
    rows_b=st.lists(random_row, min_size=0, max_size=12),
    vol_window=st.integers(1, 4),
    size_max=st.floats(0.1, 2.0),
    k=st.floats(0.1, 100.0),
    allow_short=st.booleans(),
    form=st.sampled_from(ScoreForm),
    gate=st.sampled_from(ShortGate),
    scope=st.sampled_from(MultiplierScope),
)
def test_signs_and_bounds_hold_for_random_inputs(
    rows_a: list[dict[str, Any]],
    rows_b: list[dict[str, Any]],
    vol_window: int,
    size_max: float,
    k: float,
    allow_short: bool,
    form: ScoreForm,
    gate: ShortGate,
    scope: MultiplierScope,
) -> None:
    cfg = spec_policy(
        vol_window=vol_window,
        size_max=size_max,
        k=k,
        allow_short=allow_short,
        score_form=form,
        short_gate=gate,
        multiplier_scope=scope,
    )
    frame = pl.concat([frame_of(rows_a, ticker="A"), frame_of(rows_b, ticker="B")])
    out = apply_policy(frame, cfg)
    assert out.height == frame.height
    size, action = out["position_size"], out["action"]
    assert size.null_count() == 0
    assert size.is_finite().all()
    assert set(action.unique().to_list()) <= {a.value for a in Action}
    assert (size.filter(action == "LONG") >= 0).all()
    assert (size.filter(action == "SHORT") <= 0).all()
    assert (size.filter(action == "FLAT") == 0).all()
    assert (size.abs() <= size_max).all()
    if not allow_short:
        assert (action != "SHORT").all()
    # no position without a score and a positive volatility estimate
    untradable = (
        out["policy_score"].is_null()
        | out["ex_ante_vol"].is_null()
        | (out["ex_ante_vol"] <= 0).fill_null(True)
    )
    assert (action.filter(untradable) == "FLAT").all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(random_row, min_size=1, max_size=12),
    form=st.sampled_from(ScoreForm),
    gate=st.sampled_from(ShortGate),
    overheat=st.floats(0.0, 3.0),
    late=st.floats(0.0, 3.0),
)
def test_flags_never_move_a_short(
    rows: list[dict[str, Any]], form: ScoreForm, gate: ShortGate, overheat: float, late: float
) -> None:
    # whatever the factors, the rows that are SHORT and their sizes are the same with the
    # event flags as without them (thresholds on their usual sides of 0)
    cfg = spec_policy(
        vol_window=1,
        score_form=form,
        short_gate=gate,
        overheat_multiplier=overheat,
        late_breakdown_multiplier=late,
    )
    flagged = apply_policy(frame_of(rows), cfg)
    plain = apply_policy(frame_of([{**r, "I_vr_and_vs": 0, "I_bd_late": 0} for r in rows]), cfg)
    is_short = flagged["action"] == "SHORT"
    assert is_short.equals(plain["action"] == "SHORT")
    assert flagged["position_size"].filter(is_short).equals(plain["position_size"].filter(is_short))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(random_row, min_size=1, max_size=12),
    gate=st.sampled_from(ShortGate),
    scope=st.sampled_from(MultiplierScope),
    lam=st.floats(0.0, 2.0),
)
def test_symmetric_form_changes_only_the_short_side(
    rows: list[dict[str, Any]], gate: ShortGate, scope: MultiplierScope, lam: float
) -> None:
    def run(form: ScoreForm) -> pl.DataFrame:
        cfg = spec_policy(
            vol_window=1,
            risk_aversion=lam,
            score_form=form,
            short_gate=gate,
            multiplier_scope=scope,
        )
        return apply_policy(frame_of(rows), cfg)

    spec, sym = run(ScoreForm.SPEC), run(ScoreForm.SYMMETRIC)
    # the same longs with the same sizes
    is_long = spec["action"] == "LONG"
    assert is_long.equals(sym["action"] == "LONG")
    assert spec["position_size"].filter(is_long).equals(sym["position_size"].filter(is_long))
    # the same score where the spec's is positive, never a lower one elsewhere
    s, y = spec["policy_score"], sym["policy_score"]
    assert s.is_null().equals(y.is_null())
    assert ((s <= 0) | (s == y)).fill_null(True).all()
    assert (y >= s).fill_null(True).all()
    # a symmetric SHORT is a spec SHORT of at least the same size
    sym_short = sym["action"] == "SHORT"
    assert (spec["action"].filter(sym_short) == "SHORT").all()
    assert (spec["position_size"] <= sym["position_size"]).filter(sym_short).all()
