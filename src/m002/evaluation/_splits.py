"""Purged walk-forward splits over a trading calendar.

The calendar is the sorted unique dates of the panel. Each fold is a test block of consecutive
dates and the training dates before it, less an embargo: ``embargo_dates`` trading dates are
left out between the last training date and the first test date, so that no training label
(which looks ``horizon`` rows ahead) reaches into the test block. The walk-forward runner
goes further and hands each fit only the prices up to its last training date, so the fit
cannot see the embargo or the test block at all.

Test blocks start on a retrain schedule: ``"1y"`` (the first trading date of every year),
``"6m"`` (every six months) or ``"126d"`` (every 126 trading dates). They tile the test range
without overlap, so their out-of-sample predictions concatenate into one history.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import date
from typing import Final

import numpy as np
import polars as pl

from m002._checks import check_field_types
from m002._dates import parse_date, parse_period
from m002.exceptions import ConfigError

__all__ = ["Fold", "WalkForwardConfig", "walk_forward_splits"]

_WINDOWS: Final = ("expanding", "rolling")


@dataclass(frozen=True)
class WalkForwardConfig:
    """How the walk-forward re-trains the pipeline.

    Parameters
    ----------
    retrain_every : str
        ``"<n>y"`` (years), ``"<n>m"`` (months) or ``"<n>d"`` (trading dates): the length of
        each test block; the pipeline is re-trained before each.
    window : str
        ``"expanding"`` (every date before the embargo) or ``"rolling"`` (the last
        ``train_dates`` of them).
    train_dates : int
        Training dates per fold for ``window="rolling"``; 0 with ``"expanding"``.
    min_train_dates : int
        A fold needs at least this many training dates (default three years: layer 1's
        cross-fitting predicts only the blocks after its first ``min_fit_dates``, and the
        head trains on those); the first test block starts at the first
        boundary of the schedule that leaves them (unless ``first_test_date`` is set).
    embargo_dates : int
        Trading dates left out between each fit and its test block; 0 picks the least the
        labels allow, ``max(horizon, lookahead) + 1``. A smaller non-zero value is an error.
    first_test_date, last_test_date : str
        ISO dates bounding the out-of-sample range; empty for the schedule's first boundary
        and the calendar's last date.
    """

    retrain_every: str = "1y"
    window: str = "expanding"
    train_dates: int = 0
    min_train_dates: int = 756
    embargo_dates: int = 0
    first_test_date: str = ""
    last_test_date: str = ""

    def __post_init__(self) -> None:
        check_field_types(self)
        self.step()
        if self.window not in _WINDOWS:
            msg = f"`window` must be one of {list(_WINDOWS)}, got `window={self.window!r}`"
            raise ConfigError(msg)
        if self.window == "rolling" and self.train_dates < 1:
            msg = (
                "`train_dates` must be >= 1 with `window='rolling'`, got "
                f"`train_dates={self.train_dates}`"
            )
            raise ConfigError(msg)
        if self.window == "expanding" and self.train_dates != 0:
            msg = (
                "`train_dates` applies to `window='rolling'` only; with 'expanding' leave it 0, "
                f"got `train_dates={self.train_dates}`"
            )
            raise ConfigError(msg)
        for name in ("min_train_dates", "embargo_dates"):
            if getattr(self, name) < 0:
                msg = f"`{name}` must be >= 0, got `{name}={getattr(self, name)}`"
                raise ConfigError(msg)
        for name in ("first_test_date", "last_test_date"):
            parse_date(getattr(self, name), name)

    def step(self) -> tuple[int, str]:
        """``(n, unit)`` of ``retrain_every``, unit ``"y"``, ``"m"`` or ``"d"``."""
        return parse_period(self.retrain_every, "retrain_every")


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: positions into the calendar (``stop`` exclusive) and dates."""

    index: int
    train_start_pos: int
    train_stop_pos: int
    test_start_pos: int
    test_stop_pos: int
    train_start: date
    train_end: date
    test_start: date
    test_end: date

    @property
    def train_index(self) -> np.ndarray:
        """Calendar positions of the training dates."""
        return np.arange(self.train_start_pos, self.train_stop_pos)

    @property
    def test_index(self) -> np.ndarray:
        """Calendar positions of the test dates."""
        return np.arange(self.test_start_pos, self.test_stop_pos)

    @property
    def n_train_dates(self) -> int:
        return self.train_stop_pos - self.train_start_pos

    def as_dict(self) -> dict[str, object]:
        return {
            "fold": self.index,
            "train_start": str(self.train_start),
            "train_end": str(self.train_end),
            "test_start": str(self.test_start),
            "test_end": str(self.test_end),
            "n_train_dates": self.n_train_dates,
            "n_test_dates": self.test_stop_pos - self.test_start_pos,
        }


def _block_starts(days: list[date], first: int, last: int, n: int, unit: str) -> list[int]:
    """Positions in ``days[first:last + 1]`` where a test block starts."""
    if unit == "d":
        return list(range(first, last + 1, n))
    anchor = days[first]
    months = n * 12 if unit == "y" else n
    starts = [first]
    k = 1
    while True:
        month0 = anchor.month - 1 + k * months
        boundary = date(anchor.year + month0 // 12, month0 % 12 + 1, 1)
        # the first trading date on or after the boundary
        pos = bisect_left(days, boundary)
        if pos > last:
            return starts
        if pos > starts[-1]:
            starts.append(pos)
        k += 1


def _period_start(days: list[date], pos: int, unit: str) -> int:
    """The first position at or after ``pos`` that opens a calendar period (year or month)."""
    if unit == "d" or pos == 0:
        return pos
    day = days[pos]
    prev = days[pos - 1]
    same = prev.year == day.year and (unit == "y" or prev.month == day.month)
    if not same:
        return pos
    boundary = date(day.year + 1, 1, 1) if unit == "y" else _next_month(day)
    return bisect_left(days, boundary)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def walk_forward_splits(
    calendar: pl.Series | list[date],
    config: WalkForwardConfig | None = None,
    *,
    min_embargo: int = 1,
) -> list[Fold]:
    """Folds of a purged walk-forward over ``calendar``.

    Parameters
    ----------
    calendar : pl.Series or list of date
        Trading dates (duplicates are dropped, order is restored).
    config : WalkForwardConfig, optional
    min_embargo : int
        The least embargo the labels allow (``max(horizon, lookahead) + 1``); used when
        ``config.embargo_dates`` is 0, and a non-zero value below it is an error.

    Returns
    -------
    list of Fold
        In time order; test blocks tile ``[first test date, last test date]``.

    Raises
    ------
    ConfigError
        An embargo below ``min_embargo``, too little history before ``first_test_date``, or
        no room for a single fold.

    Examples
    --------
    >>> from datetime import date, timedelta
    >>> days = [date(2020, 1, 1) + timedelta(days=i) for i in range(10)]
    >>> cfg = WalkForwardConfig(retrain_every="3d", min_train_dates=3)
    >>> [(f.train_index.tolist(), f.test_index.tolist())
    ...  for f in walk_forward_splits(days, cfg, min_embargo=1)]
    [([0, 1, 2], [4, 5, 6]), ([0, 1, 2, 3, 4, 5], [7, 8, 9])]
    """
    cfg = config or WalkForwardConfig()
    embargo = cfg.embargo_dates or min_embargo
    if embargo < min_embargo:
        msg = (
            f"`embargo_dates` must be >= {min_embargo} (max(label horizon, lookahead) + 1), "
            f"got `embargo_dates={cfg.embargo_dates}`"
        )
        raise ConfigError(msg)
    series = calendar if isinstance(calendar, pl.Series) else pl.Series(calendar, dtype=pl.Date)
    days: list[date] = series.unique().sort().to_list()
    n, unit = cfg.step()
    first_day = parse_date(cfg.first_test_date, "first_test_date")
    last_day = parse_date(cfg.last_test_date, "last_test_date")
    need = max(cfg.min_train_dates, 1) + embargo
    if first_day is None:
        first = _period_start(days, need, unit) if need < len(days) else len(days)
    else:
        first = bisect_left(days, first_day)
        if first < need:
            msg = (
                f"`first_test_date={cfg.first_test_date}` leaves {max(first - embargo, 0)} "
                f"training dates before the embargo; `min_train_dates` asks for "
                f"{cfg.min_train_dates} (data from {days[0] if days else None})"
            )
            raise ConfigError(msg)
    last = len(days) - 1 if last_day is None else bisect_right(days, last_day) - 1
    if first >= len(days) or first > last:
        msg = (
            f"no room for a walk-forward fold: {len(days)} dates "
            f"({days[0] if days else None} to {days[-1] if days else None}), "
            f"{cfg.min_train_dates} training + {embargo} embargo dates needed before the first "
            "test block"
        )
        raise ConfigError(msg)
    starts = _block_starts(days, first, last, n, unit)
    folds = []
    for k, start in enumerate(starts):
        stop = starts[k + 1] if k + 1 < len(starts) else last + 1
        train_stop = start - embargo
        train_start = 0 if cfg.window == "expanding" else max(0, train_stop - cfg.train_dates)
        folds.append(
            Fold(
                index=k,
                train_start_pos=train_start,
                train_stop_pos=train_stop,
                test_start_pos=start,
                test_stop_pos=stop,
                train_start=days[train_start],
                train_end=days[train_stop - 1],
                test_start=days[start],
                test_end=days[stop - 1],
            )
        )
    return folds
