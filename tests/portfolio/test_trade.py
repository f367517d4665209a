"""One date's trades from the held book to the target, rule by rule, and the limits of the
held book."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from m002.portfolio import PortfolioConfig
from m002.portfolio._trade import hold_limits, trade

BASE = PortfolioConfig.passthrough()


def traded(held: list[float], target: list[float], **rules: Any) -> list[float]:
    age = np.array(rules.pop("age", [10] * len(held)), dtype=np.int64)
    edge = rules.pop("edge", None)
    strength = np.array(rules.pop("strength", [1.0] * len(held)))
    config = dataclasses.replace(BASE, **rules)
    out = trade(
        np.array(held),
        np.array(target),
        age=age,
        edge=None if edge is None else np.array(edge, dtype=np.float64),
        strength=strength,
        config=config,
    )
    return out.tolist()


def test_full_rate_trades_to_the_target() -> None:
    assert traded([0.0, 0.2, 0.3, -0.1], [0.1, 0.25, 0.0, 0.4]) == [0.1, 0.25, 0.0, 0.4]


def test_partial_rate_moves_part_way_closes_and_reverses_in_full() -> None:
    out = traded([0.0, 0.2, 0.3, -0.1], [0.1, 0.4, 0.0, 0.4], trade_rate=0.25)
    # open from 0; resize; close in full; reversal: close, then open from 0
    assert out == pytest.approx([0.025, 0.25, 0.0, 0.1], abs=1e-15)


def test_band_skips_small_changes_and_snaps_near_the_target() -> None:
    out = traded([0.2, 0.2, 0.0, 0.2], [0.22, 0.3, 0.04, 0.0], no_trade_band=0.05)
    assert out == pytest.approx([0.2, 0.3, 0.0, 0.0], abs=1e-15)
    # rate 0.5: 0.0 -> 0.5 is 0.5 from the target 1.0; 0.8 -> 0.9 is within 0.15 of 1.0
    out = traded([0.0, 0.8], [1.0, 1.0], trade_rate=0.5, no_trade_band=0.15)
    assert out == pytest.approx([0.5, 1.0], abs=1e-15)


def test_min_hold_keeps_young_positions_from_closing_or_reversing() -> None:
    out = traded([0.2, 0.2, -0.2, 0.2], [0.0, -0.3, 0.0, 0.4], min_hold_days=3, age=[2, 2, 3, 1])
    # the first two are too young to close or reverse; the third may close; a resize is free
    assert out == [0.2, 0.2, 0.0, 0.4]


def test_edge_over_cost_rule() -> None:
    # c = 0.001; e = edge / 100
    held = [0.0, 0.0, 0.5, 0.5, 0.5, 0.5, 0.2]
    target = [0.5, 0.5, 0.0, 0.0, -0.5, 0.2, 0.4]
    edge = [0.2, 0.1, -0.2, 0.0, -0.2, np.nan, np.nan]
    out = traded(held, target, edge_over_cost=True, edge=edge)
    # buy at 0.2% > 0.1%; no buy at exactly the cost; sell at -0.2%; no sale at 0;
    # reversal worth it; a missing edge allows a cut, not a raise
    assert out == [0.5, 0.0, 0.0, 0.5, -0.5, 0.2, 0.2]


def test_new_positions_open_into_free_places_strongest_first() -> None:
    held = [0.2, -0.2, 0.0, 0.0, 0.0]
    target = [0.2, 0.0, 0.1, 0.1, -0.1]
    out = traded(held, target, max_positions=3, strength=[1.0, 1.0, 0.2, 0.5, 0.5])
    # one name stays, one closes: two places for three openings, D and E (strongest; D
    # before E by order)
    assert out == [0.2, 0.0, 0.0, 0.1, -0.1]


def test_hold_limits_clip_scale_and_band() -> None:
    config = dataclasses.replace(BASE, max_weight=0.4, max_leverage=1.0)
    out = hold_limits(np.array([0.6, 0.3, -0.5]), config)
    # clipped to 0.4, 0.3, -0.4 (gross 1.1), scaled to gross 1
    np.testing.assert_allclose(out, np.array([0.4, 0.3, -0.4]) / 1.1, atol=1e-15)
    neutral = PortfolioConfig(long_only=False, max_weight=None, max_leverage=None)
    out = hold_limits(np.array([0.3, 0.2, -0.25, 0.0]), neutral)
    np.testing.assert_allclose(out, [0.15, 0.1, -0.25, 0.0], atol=1e-15)
    assert out.sum() == pytest.approx(0.0, abs=1e-15)
    zero = hold_limits(np.array([0.3, -0.0]), dataclasses.replace(BASE, net_max=0.0))
    assert zero.tolist() == [0.0, 0.0]
    assert str(zero[1]) == "0.0"  # no negative zero
