"""Walk-forward splitters against exact index arrays."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from m002.evaluation import WalkForwardConfig, walk_forward_splits
from m002.exceptions import ConfigError


def _business_days(start: date, end: date) -> list[date]:
    days, day = [], start
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def _arrays(folds: list) -> list[tuple[list[int], list[int]]]:
    return [(f.train_index.tolist(), f.test_index.tolist()) for f in folds]


def test_trading_date_steps_expanding() -> None:
    days = [date(2021, 1, 1) + timedelta(days=i) for i in range(20)]
    cfg = WalkForwardConfig(retrain_every="5d", min_train_dates=6, embargo_dates=2)
    folds = walk_forward_splits(days, cfg, min_embargo=2)
    assert _arrays(folds) == [
        (list(range(0, 6)), [8, 9, 10, 11, 12]),
        (list(range(0, 11)), [13, 14, 15, 16, 17]),
        (list(range(0, 16)), [18, 19]),
    ]
    # the embargo: exactly 2 dates between each fit and its test block
    for f in folds:
        assert f.test_index[0] - f.train_index[-1] - 1 == 2


def test_trading_date_steps_rolling() -> None:
    days = [date(2021, 1, 1) + timedelta(days=i) for i in range(20)]
    cfg = WalkForwardConfig(
        retrain_every="5d", window="rolling", train_dates=4, min_train_dates=4, embargo_dates=3
    )
    folds = walk_forward_splits(days, cfg, min_embargo=1)
    assert _arrays(folds) == [
        ([0, 1, 2, 3], [7, 8, 9, 10, 11]),
        ([5, 6, 7, 8], [12, 13, 14, 15, 16]),
        ([10, 11, 12, 13], [17, 18, 19]),
    ]


def test_embargo_defaults_to_the_least_the_labels_allow() -> None:
    days = [date(2021, 1, 1) + timedelta(days=i) for i in range(12)]
    cfg = WalkForwardConfig(retrain_every="4d", min_train_dates=3)
    folds = walk_forward_splits(days, cfg, min_embargo=6)
    assert _arrays(folds) == [([0, 1, 2], [9, 10, 11])]


def test_yearly_blocks_start_on_the_first_trading_date_of_each_year() -> None:
    days = _business_days(date(2018, 1, 1), date(2021, 6, 30))
    cfg = WalkForwardConfig(retrain_every="1y", min_train_dates=250, embargo_dates=6)
    folds = walk_forward_splits(pl.Series(days), cfg, min_embargo=6)
    # 2018 has 261 business days; the first year start with 250 + 6 dates before it is 2019
    assert [(f.test_start, f.test_end) for f in folds] == [
        (date(2019, 1, 1), date(2019, 12, 31)),
        (date(2020, 1, 1), date(2020, 12, 31)),
        (date(2021, 1, 1), date(2021, 6, 30)),
    ]
    first = folds[0]
    assert first.train_index.tolist() == list(range(0, 261 - 6))
    assert first.train_end == days[261 - 7]
    assert first.test_index.tolist() == list(range(261, 261 + 261))
    # the blocks tile the test range: no overlap, no hole
    tested = np.concatenate([f.test_index for f in folds])
    assert tested.tolist() == list(range(261, len(days)))


def test_monthly_blocks_and_explicit_bounds() -> None:
    """After a first block from ``first_test_date``, blocks follow calendar quarters."""
    days = _business_days(date(2020, 1, 1), date(2020, 12, 31))
    cfg = WalkForwardConfig(
        retrain_every="3m",
        min_train_dates=20,
        first_test_date="2020-04-15",
        last_test_date="2020-11-15",
    )
    folds = walk_forward_splits(days, cfg, min_embargo=6)
    assert [(f.test_start, f.test_end) for f in folds] == [
        (date(2020, 4, 15), date(2020, 6, 30)),
        (date(2020, 7, 1), date(2020, 9, 30)),
        (date(2020, 10, 1), date(2020, 11, 13)),
    ]


def test_unsorted_duplicated_calendar_is_normalised() -> None:
    days = [date(2021, 1, 1) + timedelta(days=i) for i in range(12)]
    shuffled = days[::-1] + days[:5]
    cfg = WalkForwardConfig(retrain_every="4d", min_train_dates=3, embargo_dates=2)
    assert _arrays(walk_forward_splits(shuffled, cfg, min_embargo=2)) == _arrays(
        walk_forward_splits(days, cfg, min_embargo=2)
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"retrain_every": "weekly"}, "retrain_every"),
        ({"retrain_every": "0y"}, "retrain_every"),
        ({"window": "sliding"}, "window"),
        ({"window": "rolling"}, "train_dates"),
        ({"train_dates": 10}, "train_dates"),
        ({"embargo_dates": -1}, "embargo_dates"),
        ({"first_test_date": "2020-13-01"}, "first_test_date"),
        ({"min_train_dates": 1.5}, "min_train_dates"),
    ],
)
def test_config_errors_name_the_field(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        WalkForwardConfig(**kwargs)  # type: ignore[arg-type]


def test_an_embargo_shorter_than_the_labels_is_refused() -> None:
    days = [date(2021, 1, 1) + timedelta(days=i) for i in range(30)]
    cfg = WalkForwardConfig(retrain_every="5d", min_train_dates=5, embargo_dates=3)
    with pytest.raises(ConfigError, match=r"embargo_dates.*>= 6"):
        walk_forward_splits(days, cfg, min_embargo=6)


def test_too_little_history_is_a_clear_error() -> None:
    days = [date(2021, 1, 1) + timedelta(days=i) for i in range(30)]
    with pytest.raises(ConfigError, match="no room"):
        walk_forward_splits(days, WalkForwardConfig(min_train_dates=100), min_embargo=6)
    early = WalkForwardConfig(retrain_every="5d", min_train_dates=10, first_test_date="2021-01-08")
    with pytest.raises(ConfigError, match="min_train_dates"):
        walk_forward_splits(days, early, min_embargo=6)
