"""Side totals (gross, natural split, net band, beta split), water-filling under the cap, the
volatility target and leverage cap, and the beta shrink."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from m002.portfolio import PortfolioConfig
from m002.portfolio._sizing import (
    _water_fill,
    net_band,
    remove_beta,
    shrink_to_band,
    side_totals,
    target_book,
)

RANK = PortfolioConfig(long_only=False, max_weight=None, max_leverage=None)
SPEC = PortfolioConfig.passthrough()
RAW = np.array([0.5, 1 / 6, -1 / 6, -0.5])


def cfg(base: PortfolioConfig, **changes: Any) -> PortfolioConfig:
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    ("config", "raw", "totals"),
    [
        (RANK, RAW, (0.5, 0.5)),
        (cfg(RANK, gross_target=0.6), RAW, (0.3, 0.3)),
        (cfg(RANK, long_only=True), np.array([0.5, 1 / 6, 0.0]), (1.0, 0.0)),
        # a two-sided rank book with one side empty is flat (net band [0, 0])
        (RANK, np.array([0.5, 0.0]), (0.0, 0.0)),
        (cfg(RANK, net_min=0.2, net_max=0.4), RAW, (0.6, 0.4)),
        (cfg(RANK, net_min=-0.5, net_max=0.4), np.array([0.5, 0.0]), (0.4, 0.0)),
        (SPEC, np.array([0.3, 0.2, -0.1]), (0.5, 0.1)),
        (cfg(SPEC, gross_target=1.2), np.array([0.3, 0.2, -0.1]), (1.0, 0.2)),
        (cfg(SPEC, net_max=0.2), np.array([0.3, 0.2, -0.1]), (0.4, 0.2)),
        (cfg(SPEC, net_min=0.5), np.array([0.3, 0.2, -0.1]), (0.55, 0.05)),
        (cfg(SPEC, net_max=-1.0), np.array([0.3, -0.1]), (0.0, 0.4)),
        (cfg(SPEC, gross_target=1.0), np.zeros(2), (0.0, 0.0)),
    ],
)
def test_side_totals(config: PortfolioConfig, raw: np.ndarray, totals: tuple[float, float]) -> None:
    assert side_totals(raw, None, config) == pytest.approx(totals, abs=1e-15)


def test_beta_split_equals_the_sides_beta_exposures() -> None:
    config = cfg(RANK, beta_neutral=True)
    beta = np.array([1.2, 1.2, 0.8, 0.8])
    long, short = side_totals(RAW, beta, config)
    assert (long, short) == pytest.approx((0.4, 0.6))
    assert long * 1.2 == pytest.approx(short * 0.8)
    # a side with a mean beta <= 0, or no side at all: flat
    assert side_totals(RAW, np.array([1.0, 1.0, -1.0, -1.0]), config) == (0.0, 0.0)
    assert side_totals(np.array([0.5, 0.0]), np.ones(2), config) == (0.0, 0.0)


def test_net_band_of_a_neutral_book_is_zero() -> None:
    assert net_band(RANK) == (0.0, 0.0)
    assert net_band(cfg(RANK, long_only=True)) == (None, None)
    assert net_band(cfg(SPEC, net_min=-0.1)) == (-0.1, None)


@pytest.mark.parametrize(
    ("long", "short", "band", "expected"),
    [
        (0.6, 0.4, (0.0, 0.0), (0.4, 0.4)),
        (0.3, 0.5, (0.0, 0.0), (0.3, 0.3)),
        (0.6, 0.4, (-0.1, 0.1), (0.5, 0.4)),
        (0.6, 0.0, (0.1, 0.3), (0.3, 0.0)),
        (0.1, 0.4, (0.2, None), (0.1, 0.0)),  # as far as shrinking goes
        (0.5, 0.5, (None, None), (0.5, 0.5)),
    ],
)
def test_shrink_to_band(
    long: float, short: float, band: tuple[float | None, float | None], expected: tuple[float, ...]
) -> None:
    assert shrink_to_band(long, short, *band) == pytest.approx(expected, abs=1e-15)


def test_water_fill_by_hand() -> None:
    values = np.array([0.1, 0.1, 0.05])
    np.testing.assert_allclose(_water_fill(values, 1.0, None), [0.4, 0.4, 0.2], atol=1e-15)
    np.testing.assert_allclose(_water_fill(values, 1.0, 0.35), [0.35, 0.35, 0.3], atol=1e-15)
    np.testing.assert_allclose(_water_fill(values, 0.9, 0.3), [0.3, 0.3, 0.3], atol=1e-15)
    # two capped in turn: 0.4 -> 0.25, the rest re-spread
    values = np.array([8.0, 4.0, 2.0, 1.0, 1.0])
    np.testing.assert_allclose(
        _water_fill(values, 1.0, 0.25), [0.25, 0.25, 0.25, 0.125, 0.125], atol=1e-15
    )


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    values=st.lists(st.floats(1e-6, 1.0), min_size=1, max_size=30),
    cap=st.floats(0.01, 1.0),
    share=st.floats(0.01, 1.0),
)
def test_water_fill_meets_the_cap_and_the_total(
    values: list[float], cap: float, share: float
) -> None:
    v = np.array(values)
    total = share * cap * v.size  # always reachable
    out = _water_fill(v, total, cap)
    assert out.max() <= cap
    assert out.sum() == pytest.approx(total, rel=1e-12)
    free = out < cap * (1 - 1e-12)
    if free.sum() > 1:  # the names the cap does not bind keep their proportions
        ratio = out[free] / v[free]
        assert ratio.max() == pytest.approx(ratio.min(), rel=1e-12)


def test_target_book_scales_up_under_the_cap_and_keeps_the_sides_ratio() -> None:
    config = cfg(RANK, gross_target=1.0, max_weight=0.3)
    raw = np.array([0.5, 0.25, 0.25, -0.5])
    book = target_book(raw, side_totals(raw, None, config), config)
    # long side 0.5 spread 2:1:1 fits; short side 0.5 on one name: capped at 0.3, so both
    # sides shrink to 0.3
    np.testing.assert_allclose(book, [0.15, 0.075, 0.075, -0.3], atol=1e-15)


def test_volatility_target_scales_by_target_over_ex_ante() -> None:
    config = cfg(RANK, vol_target=0.2, max_leverage=1.5)
    book = target_book(RAW, (0.5, 0.5), config, lambda b: 0.4 * np.abs(b).sum())
    assert np.abs(book).sum() == pytest.approx(0.5)
    # the leverage cap stops a book that would need more
    book = target_book(RAW, (0.5, 0.5), config, lambda b: 0.05)
    assert np.abs(book).sum() == pytest.approx(1.5)
    book = target_book(RAW, (0.5, 0.5), config, lambda b: 0.0)
    assert np.abs(book).sum() == pytest.approx(1.5)
    flat = target_book(np.zeros(3), (0.0, 0.0), config, lambda b: 1 / 0)
    assert not flat.any()


def test_leverage_cap_without_volatility_target() -> None:
    config = cfg(SPEC, max_leverage=1.0)
    book = target_book(np.array([0.9, -0.6]), (0.9, 0.6), config)
    np.testing.assert_allclose(book, [0.6, -0.4], atol=1e-15)


def test_remove_beta_shrinks_the_side_with_more_beta() -> None:
    book = np.array([0.3, 0.2, -0.5])
    beta = np.array([1.0, 1.5, 0.8])
    out = remove_beta(book, beta)
    # longs carry 0.6, shorts 0.4: longs x 2/3
    np.testing.assert_allclose(out, [0.2, 0.2 * 2 / 3, -0.5], atol=1e-15)
    assert out @ beta == pytest.approx(0.0, abs=1e-15)
    assert not remove_beta(book, np.array([1.0, 1.0, -0.1])).any()
