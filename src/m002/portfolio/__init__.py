"""The portfolio layer: the policy's decisions of all tickers -> one book of target weights.

Sizing across names (the policy's own sizes, a dollar-neutral rank book, Qlib's TopkDropout),
memory against churn (hysteresis, cooldown, minimum hold, trade rate, no-trade band, edge over
cost) and risk limits (per-name cap, gross target, net band, beta neutrality, volatility
target, leverage cap, maximum positions), decided causally date by date. `build_portfolio`
documents the rules and their order.
"""

from __future__ import annotations

from m002.portfolio._build import build_portfolio
from m002.portfolio._config import TARGET_WEIGHT, PortfolioConfig, Sizing

__all__ = ["TARGET_WEIGHT", "PortfolioConfig", "Sizing", "build_portfolio"]
