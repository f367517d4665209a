"""Trailing returns, full windows, the universe return, rolling beta and book volatility,
against direct computations; each value is the same whatever history precedes its window."""

from __future__ import annotations

import math

import numpy as np
import pytest

from m002.portfolio._returns import (
    book_volatility,
    daily_returns,
    full_window,
    rolling_beta,
    universe_return,
)

NAN = np.nan


def test_daily_returns_need_a_good_close_on_both_dates() -> None:
    close = np.array([[100.0, 10.0], [110.0, NAN], [99.0, 12.0], [0.0, 12.6], [99.0, 12.6]])
    out = daily_returns(close)
    expected = [[NAN, NAN], [0.1, NAN], [-0.1, NAN], [NAN, 0.05], [NAN, 0.0]]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-15)
    assert daily_returns(close[:1]).shape == (1, 2)


def test_full_window_counts_returns_on_each_date_of_the_window() -> None:
    returns = np.array([[NAN], [0.1], [0.2], [NAN], [0.1], [0.1], [0.1]])
    assert full_window(returns, 2)[:, 0].tolist() == [False, False, True, False, False, True, True]
    assert full_window(returns, 3)[:, 0].tolist() == [False] * 6 + [True]


def test_universe_return_is_the_mean_of_the_names_with_a_return() -> None:
    returns = np.array([[NAN, NAN], [0.1, NAN], [0.1, 0.3]])
    np.testing.assert_array_equal(universe_return(returns), [NAN, 0.1, 0.2])


def test_rolling_beta_matches_the_covariance_over_the_window() -> None:
    rng = np.random.default_rng(0)
    market = rng.normal(0, 0.01, 40)
    returns = np.column_stack([1.5 * market + rng.normal(0, 0.005, 40), rng.normal(0, 0.01, 40)])
    returns[0] = NAN
    returns[25, 1] = NAN
    beta = rolling_beta(returns, market, 10)
    assert np.isnan(beta[:10]).all()  # the first return is on date 1: full from date 10
    for day in (10, 24, 39):
        r, m = returns[day - 9 : day + 1], market[day - 9 : day + 1]
        for name in (0, 1):
            if day == 39 or name == 0 or day < 25:
                expected = np.cov(r[:, name], m)[0, 1] / m.var(ddof=1)
                assert beta[day, name] == pytest.approx(expected, rel=1e-10)
    # a missing return empties the window that holds it
    assert np.isnan(beta[25:35, 1]).all()
    assert not np.isnan(beta[35:, 1]).any()
    flat = rolling_beta(returns, np.full(40, 0.01), 10)
    assert np.isnan(flat).all()  # no market variance, no beta


def test_windowed_values_do_not_depend_on_earlier_history() -> None:
    rng = np.random.default_rng(1)
    returns = rng.normal(0, 0.01, (200, 5))
    market = returns.mean(axis=1)
    full = rolling_beta(returns, market, 30)
    late = rolling_beta(returns[120:], market[120:], 30)
    # bit for bit once the shorter history's window is full
    np.testing.assert_array_equal(full[149:], late[29:])


def test_book_volatility_is_the_annualised_deviation_of_the_book_return() -> None:
    window = np.array([[0.01, -0.02], [0.03, 0.0], [-0.01, 0.01]])
    weights = np.array([0.5, -0.5])
    book = np.array([0.015, 0.015, -0.01])
    assert book_volatility(window, weights) == pytest.approx(
        book.std(ddof=1) * math.sqrt(252), rel=1e-14
    )
