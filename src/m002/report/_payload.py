"""The data the page's charts draw, reshaped into compact JSON.

Nothing here computes a new number: values are selected, reshaped into per-ticker columnar
arrays and rounded for display. The one derived quantity, the row shares of the confusion
matrix, is a display normalisation of the counts that ``evaluation.json`` holds.

Compact encoding of the ticker explorer (about 60 characters per ticker-day):

- dates as day gaps: the first is the number of days since ``date0`` (one ISO date for the
  whole page), each later one the days since the previous row;
- prices to 5 significant digits, position sizes to 4 decimals, probabilities to 3 decimals
  written as whole thousandths (``162`` for 0.162, two characters less per value);
- the action as one character per day (``L``, ``S``, ``F``, ``-`` for null) and each event flag
  as one character per day (``0``, ``1``, ``-`` for null), both as strings;
- NaN and infinities as ``null`` (``JSON.parse`` rejects ``NaN``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import polars as pl

from m002._polars import collect
from m002._schema import DATE, TICKER
from m002.exceptions import ConfigError, SchemaError
from m002.policy import ACTION, POSITION_SIZE, Action
from m002.report._rundir import (
    EVALUATION_JSON,
    EVENT_FLAGS,
    STATE_NAMES,
    STATE_PROB_COLUMNS,
    RunDir,
    finite_or_none,
)

__all__ = ["available_tickers", "build_payload", "script_json", "select_tickers"]

PRICE_SIG_FIGS: Final = 5
POSITION_DECIMALS: Final = 4
EQUITY_SIG_FIGS: Final = 6
DRAWDOWN_DECIMALS: Final = 5

ACTION_CODES: Final = {Action.LONG.value: "L", Action.SHORT.value: "S", Action.FLAT.value: "F"}
"""One character per day in the page; anything else (null) becomes ``-``."""


def available_tickers(run: RunDir) -> list[str]:
    """The tickers of ``predictions.parquet``, sorted."""
    unique = collect(run.predictions.select(pl.col(TICKER).unique()))
    return sorted(unique[TICKER].drop_nulls().to_list())


def select_tickers(
    tickers: Sequence[str] | None, available: Sequence[str], *, source: Path
) -> list[str]:
    """The explorer's tickers: all of them, or ``tickers`` in the given order without repeats.

    Parameters
    ----------
    tickers : sequence of str or None
        The tickers asked for; None for all of ``available``.
    available : sequence of str
        The tickers of the predictions file, from `available_tickers`.
    source : Path
        The predictions file, named in the error message.

    Raises
    ------
    ConfigError
        ``tickers`` is empty or names tickers that ``available`` lacks.
    """
    if tickers is None:
        return list(available)
    requested = [tickers] if isinstance(tickers, str) else list(tickers)
    chosen = list(dict.fromkeys(requested))
    if not chosen:
        msg = "`tickers` must name at least one ticker, got an empty list; pass None for all"
        raise ConfigError(msg)
    known = set(available)
    unknown = [ticker for ticker in chosen if ticker not in known]
    if unknown:
        sample = ", ".join(available[:10]) + (", ..." if len(available) > 10 else "")
        msg = (
            f"`tickers` names {len(unknown)} ticker(s) that {source} does not hold: {unknown}; "
            f"it holds {len(available)}: {sample}"
        )
        raise ConfigError(msg)
    return chosen


def build_payload(run: RunDir, tickers: Sequence[str]) -> dict[str, Any]:
    """Everything the page's script draws, as one JSON-ready dict.

    Parameters
    ----------
    run : RunDir
        The run directory, read by `read_run_dir`.
    tickers : sequence of str
        The explorer's tickers, in the order of its select (from `select_tickers`).
    """
    predictions = run.predictions.filter(pl.col(TICKER).is_in(list(tickers)))
    date0 = _first_date(predictions, run.daily)
    evaluation = run.evaluation
    where = run.path / EVALUATION_JSON
    return {
        "date0": date0.isoformat(),
        "fold_starts": [
            {"fold": fold.get("fold"), "date": fold["test_start"]}
            for fold in run.run.get("folds", [])
            if fold.get("test_start")
        ],
        "backtest": _backtest(run, date0),
        "explorer": _explorer(predictions, tickers, date0),
        "confusion": _confusion(evaluation.get("confusion_matrix"), where),
        "calibration": _calibration(evaluation.get("calibration"), where),
        "reliability": _reliability(evaluation.get("regime_reliability"), where),
        "features": _features(evaluation.get("feature_by_regime"), where),
    }


def script_json(payload: Mapping[str, Any]) -> str:
    """``payload`` as compact JSON that is safe inside a ``<script>`` element."""
    text = json.dumps(finite_or_none(payload), separators=(",", ":"), allow_nan=False)
    # "<" only occurs inside JSON strings, where \u003c is the same character; this keeps
    # "</script>" or "<!--" in a ticker name or description from ending the element.
    return text.replace("<", "\\u003c")


def _first_date(predictions: pl.LazyFrame, daily: pl.DataFrame) -> dt.date:
    first = collect(predictions.select(pl.col(DATE).min()))[DATE][0]
    candidates = [d for d in (first, daily[DATE].min()) if isinstance(d, dt.date)]
    return min(candidates) if candidates else dt.date(1970, 1, 1)


def _day_gaps(date0: dt.date) -> pl.Expr:
    # Within a group_by aggregation, so the gaps run per ticker (or strategy).
    days = (pl.col(DATE) - pl.lit(date0)).dt.total_days()
    return days.diff().fill_null(days.first())


def _thousandths(column: str) -> pl.Expr:
    return (_finite(column) * 1000).round(0).cast(pl.Int16)


def _finite(column: str) -> pl.Expr:
    # Float32 probabilities are widened first: rounding in float32 and printing the
    # float64 of the result gives 0.12300000339746475 instead of 0.123.
    value = pl.col(column).cast(pl.Float64)
    return pl.when(value.is_finite()).then(value)


def _flag_string(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String).fill_null("-").str.join("")


def _explorer(predictions: pl.LazyFrame, tickers: Sequence[str], date0: dt.date) -> dict[str, Any]:
    per_ticker = collect(
        predictions.sort(TICKER, DATE)
        .group_by(TICKER)
        .agg(
            _day_gaps(date0).alias("d"),
            _finite("open").round_sig_figs(PRICE_SIG_FIGS).alias("o"),
            _finite("high").round_sig_figs(PRICE_SIG_FIGS).alias("h"),
            _finite("low").round_sig_figs(PRICE_SIG_FIGS).alias("l"),
            _finite("close").round_sig_figs(PRICE_SIG_FIGS).alias("c"),
            *(_thousandths(column) for column in STATE_PROB_COLUMNS),
            _finite(POSITION_SIZE).round(POSITION_DECIMALS).alias("pos"),
            pl.col(ACTION)
            .replace_strict(ACTION_CODES, default="-", return_dtype=pl.String)
            .str.join("")
            .alias("act"),
            *(_flag_string(flag) for flag in EVENT_FLAGS),
        )
    )
    series: dict[str, Any] = {}
    for row in per_ticker.iter_rows(named=True):
        series[row[TICKER]] = {
            "d": row["d"],
            "o": row["o"],
            "h": row["h"],
            "l": row["l"],
            "c": row["c"],
            "p": [row[column] for column in STATE_PROB_COLUMNS],
            "pos": row["pos"],
            "act": row["act"],
            "flags": [row[flag] for flag in EVENT_FLAGS],
        }
    return {
        "states": list(STATE_NAMES),
        "flags": list(EVENT_FLAGS),
        "tickers": list(tickers),
        "series": {ticker: series[ticker] for ticker in tickers if ticker in series},
    }


def _backtest(run: RunDir, date0: dt.date) -> dict[str, Any]:
    per_strategy = run.daily.group_by("strategy", maintain_order=True).agg(
        _day_gaps(date0).alias("d"),
        _finite("equity").round_sig_figs(EQUITY_SIG_FIGS).alias("equity"),
        _finite("drawdown").round(DRAWDOWN_DECIMALS).alias("drawdown"),
    )
    rows = {row["strategy"]: row for row in per_strategy.iter_rows(named=True)}
    order = [name for name in run.metrics["order"] if name in rows]
    order += sorted(name for name in rows if name not in order)
    return {"strategies": [{"name": name, **rows[name]} for name in order]}


def _confusion(section: Any, where: Path) -> dict[str, Any] | None:
    if section is None:
        return None
    labels, counts = section.get("labels"), section.get("counts")
    square = (
        isinstance(labels, list)
        and isinstance(counts, list)
        and len(counts) == len(labels)
        and all(isinstance(row, list) and len(row) == len(labels) for row in counts)
    )
    if not square:
        msg = (
            f'{where}: "confusion_matrix" must hold "labels" (n names) and "counts" '
            f"(n rows of n counts, rows = true, columns = predicted)"
        )
        raise SchemaError(msg)
    shares = []
    for row in counts:
        total = sum(count or 0 for count in row)
        shares.append([None if total == 0 else (count or 0) / total for count in row])
    return {"labels": labels, "counts": counts, "shares": shares, "rows": section.get("rows")}


def _calibration(section: Any, where: Path) -> dict[str, Any] | None:
    if section is None or not section.get("bins"):
        return None
    bins = section["bins"]
    keys = ("p_mean", "observed", "n")
    if not all(isinstance(b, dict) and all(key in b for key in keys) for b in bins):
        msg = f'{where}: every "calibration" bin must hold {list(keys)}'
        raise SchemaError(msg)
    return {key: [b[key] for b in bins] for key in keys}


def _reliability(section: Any, where: Path) -> dict[str, Any] | None:
    """Layer 1's reliability table as one series of bins per outcome."""
    if section is None or not section.get("outcomes"):
        return None
    outcomes = section["outcomes"]
    keys = ("p_mean", "observed", "n")
    well_formed = isinstance(outcomes, dict) and all(
        isinstance(entry, dict)
        and isinstance(entry.get("bins"), list)
        and all(isinstance(b, dict) and all(key in b for key in keys) for b in entry["bins"])
        for entry in outcomes.values()
    )
    if not well_formed:
        msg = (
            f'{where}: "regime_reliability" must hold "outcomes": per outcome, "bins" that '
            f"each hold {list(keys)}"
        )
        raise SchemaError(msg)
    return {
        "n": section.get("n"),
        "outcomes": list(outcomes),
        "series": {
            name: {
                **{key: [b[key] for b in entry["bins"]] for key in keys},
                "mean_probability": entry.get("mean_probability"),
                "frequency": entry.get("frequency"),
            }
            for name, entry in outcomes.items()
        },
    }


def _features(section: Any, where: Path) -> dict[str, Any] | None:
    if section is None or not section.get("features"):
        return None
    if not isinstance(section.get("stats"), dict):
        msg = f'{where}: "feature_by_regime" must hold "features", "states" and "stats"'
        raise SchemaError(msg)
    return {
        "features": section["features"],
        "states": section.get("states") or list(STATE_NAMES),
        "stats": section["stats"],
    }
