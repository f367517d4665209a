"""PortfolioConfig: types, ranges and combinations refused with the field, rule and value named;
the pass-through configuration; the columns and history each configuration needs."""

from __future__ import annotations

import doctest
import math
from types import ModuleType
from typing import Any

import pytest

from m002.exceptions import ConfigError
from m002.policy import ScoreForm
from m002.portfolio import PortfolioConfig, Sizing, _build, _config


def test_defaults_are_the_shipped_long_only_rank_tilt_with_memory_and_caps() -> None:
    cfg = PortfolioConfig()
    assert cfg.sizing is Sizing.RANK
    assert cfg.score_column == "pred_expected_ret_pct"
    assert cfg.long_only
    assert (cfg.trade_rate, cfg.max_weight, cfg.gross_target, cfg.max_leverage) == (
        0.1,
        0.1,
        1.0,
        1.0,
    )
    assert (cfg.topk, cfg.n_drop) == (10, 2)
    assert not cfg.two_sided_neutral
    assert PortfolioConfig(long_only=False).two_sided_neutral


@pytest.mark.parametrize("sizing", ["spec", "rank", "topk", Sizing.TOPK])
def test_sizing_takes_the_enum_or_its_value(sizing: Any) -> None:
    assert PortfolioConfig(sizing=sizing).sizing is Sizing(sizing)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"sizing": "ranks"},
            "`sizing` must be one of 'spec', 'rank', 'topk', got `sizing='ranks'`",
        ),
        ({"sizing": ScoreForm.SPEC}, "`sizing` must be one of"),
        ({"score_column": ""}, "`score_column` must name a column"),
        ({"edge_column": ""}, "`edge_column` must name a column"),
        ({"topk": 0}, "`topk` must be >= 1, got `topk=0`"),
        ({"n_drop": -1}, "`n_drop` must be >= 0, got `n_drop=-1`"),
        ({"topk": 3, "n_drop": 4}, "`n_drop` must be <= `topk`, got `n_drop=4`, `topk=3`"),
        ({"max_positions": 0}, "`max_positions` must be >= 1, got `max_positions=0`"),
        ({"cooldown_days": -1}, "`cooldown_days` must be >= 0"),
        ({"min_hold_days": -2}, "`min_hold_days` must be >= 0, got `min_hold_days=-2`"),
        ({"trade_rate": 0.0}, "`trade_rate` must be in (0, 1], got `trade_rate=0.0`"),
        ({"trade_rate": 1.5}, "`trade_rate` must be in (0, 1], got `trade_rate=1.5`"),
        ({"no_trade_band": -0.1}, "`no_trade_band` must be >= 0.0"),
        ({"edge_scale": 0.0}, "`edge_scale` must be > 0.0, got `edge_scale=0.0`"),
        ({"cost_bps": -1.0}, "`cost_bps` must be >= 0.0"),
        ({"max_weight": 0.0}, "`max_weight` must be > 0.0, got `max_weight=0.0`"),
        ({"gross_target": -1.0}, "`gross_target` must be > 0.0"),
        ({"vol_target": 0.0}, "`vol_target` must be > 0.0"),
        ({"max_leverage": 0.0, "gross_target": None}, "`max_leverage` must be > 0.0"),
        (
            {"gross_target": 2.0},
            "`gross_target` must be <= `max_leverage`, got `gross_target=2.0`, `max_leverage=1.0`",
        ),
        ({"net_min": 0.2, "net_max": 0.1}, "`net_min` must be <= `net_max`, got `net_min=0.2`"),
        ({"beta_neutral": True, "long_only": True}, "`beta_neutral` needs a short side"),
        (
            {"beta_neutral": True, "long_only": False, "net_min": 0.0},
            "`beta_neutral` sets the book's net itself",
        ),
        ({"beta_window": 1}, "`beta_window` must be >= 2, got `beta_window=1`"),
        ({"vol_window": 1}, "`vol_window` must be >= 2, got `vol_window=1`"),
        ({"enter_quantile": 0.9}, "are set together or not at all"),
        ({"enter_quantile": 0.7, "exit_quantile": 0.8}, "0.5 <= exit_quantile <= enter_quantile"),
        ({"enter_quantile": 0.9, "exit_quantile": 0.4}, "got `enter_quantile=0.9`, "),
        ({"enter_quantile": 1.1, "exit_quantile": 0.8}, "<= 1, got `enter_quantile=1.1`"),
        (
            {"sizing": "topk", "enter_quantile": 0.9, "exit_quantile": 0.7},
            "apply to `sizing='rank'` only, got `sizing='topk'`",
        ),
        (
            {"sizing": "topk", "topk": 10, "max_positions": 15, "long_only": False},
            "`max_positions` must be >= 2 x `topk` with `sizing='topk'`",
        ),
        ({"trade_rate": "0.5"}, "`trade_rate` must be a number, got `trade_rate='0.5'`"),
        ({"long_only": 1}, "`long_only` must be a bool, got `long_only=1`"),
        ({"topk": 2.0}, "`topk` must be an int, got `topk=2.0`"),
        ({"max_positions": True}, "`max_positions` must be an int, got `max_positions=True`"),
        ({"max_weight": math.nan}, "`max_weight` must be finite, got `max_weight=nan`"),
        ({"edge_column": 3}, "`edge_column` must be a string, got `edge_column=3`"),
    ],
)
def test_bad_values_name_field_rule_and_value(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        PortfolioConfig(**kwargs)
    assert message in str(caught.value)


def test_optional_fields_take_none_and_long_only_topk_needs_one_side() -> None:
    cfg = PortfolioConfig(
        max_weight=None, gross_target=None, max_leverage=None, net_min=None, vol_target=None
    )
    assert cfg.max_weight is None
    assert PortfolioConfig(sizing="topk", topk=10, max_positions=10, long_only=True).topk == 10


def test_config_is_frozen() -> None:
    cfg = PortfolioConfig()
    with pytest.raises(AttributeError):
        cfg.trade_rate = 0.5  # type: ignore[misc]


def test_passthrough_turns_every_rule_off() -> None:
    cfg = PortfolioConfig.passthrough(score_column="pred_expected_ret_pct")
    assert cfg.sizing is Sizing.SPEC
    assert cfg.score_column == "pred_expected_ret_pct"
    assert cfg.is_stateless()
    assert (cfg.max_weight, cfg.gross_target, cfg.max_leverage) == (None, None, None)
    assert not cfg.two_sided_neutral


@pytest.mark.parametrize(
    ("kwargs", "columns"),
    [
        ({}, ("ticker", "date", "pred_expected_ret_pct")),
        (
            {"sizing": "spec", "score_column": "policy_score"},
            ("ticker", "date", "policy_score", "position_size"),
        ),
        (
            {"beta_neutral": True, "long_only": False},
            ("ticker", "date", "pred_expected_ret_pct", "close"),
        ),
        ({"vol_target": 0.1}, ("ticker", "date", "pred_expected_ret_pct", "close")),
        (
            {"score_column": "pred_expected_ret_pct", "edge_over_cost": True},
            ("ticker", "date", "pred_expected_ret_pct"),
        ),
    ],
)
def test_required_columns_follow_the_rules(kwargs: dict[str, Any], columns: tuple[str]) -> None:
    assert PortfolioConfig(**kwargs).required_columns() == columns


def test_memory_dates_add_windows_decay_and_clocks() -> None:
    # stateless without returns: nothing; with returns: the window and the close before it
    assert PortfolioConfig.passthrough().memory_dates() == 0
    stateless = PortfolioConfig(trade_rate=1.0)
    assert stateless.is_stateless()
    assert stateless.memory_dates() == 0
    assert PortfolioConfig(trade_rate=1.0, vol_target=0.1, vol_window=20).memory_dates() == 21
    beta = PortfolioConfig(long_only=False, trade_rate=1.0, beta_neutral=True, vol_target=0.1)
    assert beta.memory_dates() == 61
    # trade rate: ceil(log(1e-12) / log(1 - rate)) dates, plus the coupling allowance
    half = PortfolioConfig(trade_rate=0.5)
    assert half.memory_dates() == math.ceil(12 * math.log(10) / math.log(2)) + 252
    clocks = PortfolioConfig(trade_rate=1.0, cooldown_days=3, min_hold_days=5, vol_target=0.1)
    assert clocks.memory_dates() == 61 + 252 + 3 + 5


@pytest.mark.parametrize("module", [_config, _build])
def test_docstring_examples_run(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_replace_drops_the_hysteresis_only_where_the_book_stops_ranking() -> None:
    ranked = PortfolioConfig(enter_quantile=0.8, exit_quantile=0.6)
    assert ranked.replace(trade_rate=0.5).enter_quantile == 0.8
    topk = ranked.replace(sizing="topk", topk=5)
    assert (topk.enter_quantile, topk.exit_quantile, topk.topk) == (None, None, 5)
    with pytest.raises(ConfigError, match="apply to `sizing='rank'` only"):
        ranked.replace(sizing="topk", enter_quantile=0.9, exit_quantile=0.7)
