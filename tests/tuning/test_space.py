"""The search space: overrides, fixed fields, ordered pairs, conditional parameters."""

from __future__ import annotations

import optuna
import pytest

from m002.exceptions import ConfigError
from m002.tuning import DEFAULT_SPACE, space_from_dict
from m002.tuning._space import changes_of, suggest


def test_a_table_sets_a_range_and_a_value_fixes_a_field() -> None:
    space, fixed = space_from_dict(
        {
            "trade_rate": {"low": 0.05, "high": 0.5, "log": True},
            "cooldown_days": 3,
            "min_hold_days": {"low": 0, "high": 5, "integer": True},
        }
    )
    by_name = {p.name: p for p in space}
    assert (by_name["trade_rate"].low, by_name["trade_rate"].high) == (0.05, 0.5)
    assert by_name["trade_rate"].log
    assert "cooldown_days" not in by_name
    assert fixed == {"cooldown_days": 3}
    assert by_name["min_hold_days"].integer  # a field the default space lacks
    assert len(space) == len(DEFAULT_SPACE)  # one out (fixed), one in (added)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"score_column": "x"}, "not a field the search can vary"),
        ({"tradee_rate": {"low": 0, "high": 1}}, "not a field the search can vary"),
        ({"trade_rate": {"low": 0.5, "high": 0.1}}, "`low` must be <= `high`"),
        ({"trade_rate": {"low": 0.0, "high": 0.1, "log": True}}, "log range needs `low` > 0"),
        ({"trade_rate": {"lo": 0.1}}, "unknown key"),
        ({"sizing": {"choices": []}}, "at least one choice"),
    ],
)
def test_bad_overrides_name_the_field(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        space_from_dict(overrides)


def test_pairs_are_put_in_order_and_a_lone_quantile_is_dropped() -> None:
    changes = changes_of(
        {"enter_quantile": 0.6, "exit_quantile": 0.9, "net_min": 0.4, "net_max": -0.1}, {}
    )
    assert changes == {"enter_quantile": 0.9, "exit_quantile": 0.6, "net_min": -0.1, "net_max": 0.4}
    assert changes_of({"enter_quantile": 0.7}, {}) == {}


def test_n_drop_is_capped_at_topk_so_no_trial_is_invalid_by_it() -> None:
    from m002.portfolio import PortfolioConfig

    changes = changes_of({"sizing": "topk", "topk": 4, "n_drop": 5}, {})
    assert (changes["topk"], changes["n_drop"]) == (4, 4)
    PortfolioConfig().replace(**changes)  # valid: it would raise for n_drop=5
    assert changes_of({"topk": 10, "n_drop": 3}, {})["n_drop"] == 3


def test_a_parameter_of_another_sizing_is_not_drawn() -> None:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    drawn = []
    for _ in range(30):
        trial = study.ask()
        values = suggest(trial, DEFAULT_SPACE, "rank")
        drawn.append(values)
        study.tell(trial, 0.0)
    for values in drawn:
        sizing = values["sizing"]
        assert ("topk" in values) == (sizing == "topk")
        assert ("k" in values) == (sizing == "spec")
        assert ("enter_quantile" in values) == (sizing == "rank")
        assert "trade_rate" in values
    assert {v["sizing"] for v in drawn} == {"spec", "rank", "topk"}
    # with the sizing fixed, the run's own decides which parameters apply
    space, _ = space_from_dict({"sizing": "topk"})
    trial = study.ask()
    values = suggest(trial, space, "topk")
    assert "topk" in values
    assert "sizing" not in values


def test_an_override_of_the_sizings_choices_still_draws_each_sizings_parameters() -> None:
    # an override moves `sizing` to the end of the space; it must still be drawn first
    space, _ = space_from_dict({"sizing": {"choices": ["spec", "topk"]}})
    assert space[-1].name == "sizing"
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
    sizings = set()
    for _ in range(20):
        values = suggest(study.ask(), space, "rank")
        sizings.add(values["sizing"])
        assert ("topk" in values) == (values["sizing"] == "topk")
        assert ("k" in values) == (values["sizing"] == "spec")
        assert "enter_quantile" not in values
    assert sizings == {"spec", "topk"}


def test_the_docs_list_the_default_space() -> None:
    import dataclasses
    from pathlib import Path

    from m002.policy import PolicyConfig

    doc = (Path(__file__).resolve().parents[2] / "docs" / "tuning.md").read_text()
    rows = doc.split("| parameter | section | range |\n|---|---|---|\n", 1)[1].split("\n\n")[0]
    on_policy = {f.name for f in dataclasses.fields(PolicyConfig)}
    expected = [
        f"| `{p.name}` | {'policy' if p.name in on_policy else 'portfolio'} | "
        + p.describe().replace(" | ", " \\| ")
        + " |"
        for p in DEFAULT_SPACE
    ]
    assert rows.splitlines() == expected
