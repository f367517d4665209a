from __future__ import annotations

import datetime as dt

import pytest

from m002._dates import calendar_days, parse_date
from m002.exceptions import ConfigError


def test_parse_date_accepts_dates_datetimes_and_iso_days() -> None:
    assert parse_date("2021-04-18", "asof") == dt.date(2021, 4, 18)
    assert parse_date(" 2021-04-18 ", "asof") == dt.date(2021, 4, 18)
    assert parse_date(dt.datetime(2021, 4, 18, 16, 0), "asof") == dt.date(2021, 4, 18)
    assert parse_date(dt.date(2021, 4, 18), "asof") == dt.date(2021, 4, 18)
    assert parse_date(None, "asof") is None
    assert parse_date("", "asof") is None


@pytest.mark.parametrize("bad", ["2012-13-01", "yesterday", "20210418", "2021-04-18T10", 5])
def test_parse_date_names_the_parameter_and_value(bad: object) -> None:
    with pytest.raises(ConfigError, match=r"`start` must be a date YYYY-MM-DD, got `start="):
        parse_date(bad, "start")


def test_calendar_days_hold_the_trading_rows() -> None:
    assert calendar_days(0) == 10
    assert calendar_days(250) == 448  # about 1.8 years for one year of trading rows
