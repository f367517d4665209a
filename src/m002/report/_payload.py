"""The data the page's charts draw, reshaped into compact JSON.

Nothing here computes a new number: values are selected, reshaped into per-ticker columnar
arrays and rounded for display. Two derived quantities are display reshapings of numbers the
run directory holds: the row shares of the confusion matrix (of the counts in
``evaluation.json``) and the tuning history's best value so far (of the trial values in
``tuning/tuning.json``).

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

from m002._polars import collect, finite_or_null
from m002._schema import DATE, TICKER
from m002.exceptions import ConfigError, SchemaError
from m002.policy import ACTION, POSITION_SIZE, Action
from m002.report._rundir import (
    EVALUATION_JSON,
    EVENT_FLAGS,
    STATE_NAMES,
    STATE_PROB_COLUMNS,
    TUNING_JSON,
    RunDir,
    finite_or_none,
)

__all__ = ["available_tickers", "build_payload", "script_json", "select_tickers"]

PRICE_SIG_FIGS: Final = 5
POSITION_DECIMALS: Final = 4
EQUITY_SIG_FIGS: Final = 6
DRAWDOWN_DECIMALS: Final = 5
PARAMETER_SIG_FIGS: Final = 6
"""Parameter values on the parallel-coordinates axes (positions on an axis, not read off)."""

TUNED: Final = "tuned_nested"
UNTUNED: Final = "untuned"
COMPARISON_METRICS: Final = ("sharpe", "cagr", "max_drawdown", "turnover", "net_exposure")
"""Metrics of the tuning comparison the report shows, left to right, per cost level."""

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
        "tuning": None if run.tuning is None else _tuning(run.tuning, run.path / TUNING_JSON),
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
    return (finite_or_null(column) * 1000).round(0).cast(pl.Int16)


def _flag_string(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String).fill_null("-").str.join("")


def _explorer(predictions: pl.LazyFrame, tickers: Sequence[str], date0: dt.date) -> dict[str, Any]:
    per_ticker = collect(
        predictions.sort(TICKER, DATE)
        .group_by(TICKER)
        .agg(
            _day_gaps(date0).alias("d"),
            finite_or_null("open").round_sig_figs(PRICE_SIG_FIGS).alias("o"),
            finite_or_null("high").round_sig_figs(PRICE_SIG_FIGS).alias("h"),
            finite_or_null("low").round_sig_figs(PRICE_SIG_FIGS).alias("l"),
            finite_or_null("close").round_sig_figs(PRICE_SIG_FIGS).alias("c"),
            *(_thousandths(column) for column in STATE_PROB_COLUMNS),
            finite_or_null(POSITION_SIZE).round(POSITION_DECIMALS).alias("pos"),
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
        finite_or_null("equity").round_sig_figs(EQUITY_SIG_FIGS).alias("equity"),
        finite_or_null("drawdown").round(DRAWDOWN_DECIMALS).alias("drawdown"),
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


def _tuning(section: Mapping[str, Any], where: Path) -> dict[str, Any]:
    """The tuning section: the tables' rows as in ``tuning.json`` and the charts' columns.

    The objective (every one of ``m002 tune``'s, and the first of a Pareto study) is
    maximised, so the history's best so far is the running maximum of the trial values.
    """
    history = _tuning_list(section["history"], ("trial", "value", "params"), "history", where)
    if not all(isinstance(t["params"], dict) and _number(t["value"]) for t in history):
        msg = (
            f'{where}: every "history" trial must hold "value" (a number or null) and "params" '
            "({name: value})"
        )
        raise SchemaError(msg)
    blocks = _tuning_list(section["blocks"], ("fold", "tuned_on", "in_sample"), "blocks", where)
    if not all(isinstance(block["tuned_on"], list) and block["tuned_on"] for block in blocks):
        msg = f'{where}: every "blocks" entry must hold "tuned_on" as a list of fold ids'
        raise SchemaError(msg)
    chosen, overfitting = section["chosen"], section["overfitting"]
    if not (isinstance(chosen, dict) and isinstance(chosen.get("changes"), dict)):
        msg = f'{where}: "chosen" must hold "trial", "in_sample" and "changes" ({{name: value}})'
        raise SchemaError(msg)
    if not (
        isinstance(overfitting, dict)
        and all(key in overfitting for key in ("dsr", "pbo"))
        and all(isinstance(overfitting[key], dict | None) for key in ("dsr", "pbo"))
    ):
        msg = f'{where}: "overfitting" must hold "dsr" and "pbo" (each an object or null)'
        raise SchemaError(msg)
    objective = str(section["objective"])
    values = [trial["value"] for trial in history]
    timing, folds = section.get("timing"), section.get("folds")
    seconds = timing.get("seconds") if isinstance(timing, dict) else None
    return {
        "objective": objective,
        "study": section.get("study"),
        "folds": folds if isinstance(folds, list) else None,
        "reported_after": section["reported_after"],
        "seconds": seconds if _number(seconds) else None,
        "comparison": _comparison(section["comparison"], where),
        "dsr": overfitting["dsr"],
        "pbo": overfitting["pbo"],
        "chosen": {
            key: chosen.get(key) for key in ("trial", "in_sample", "turnover_in_sample", "changes")
        },
        "blocks": [
            {
                key: block.get(key)
                for key in ("fold", "tuned_on", "trial", "in_sample", "turnover_in_sample")
            }
            for block in blocks
        ],
        "history": {
            "trial": [trial["trial"] for trial in history],
            "value": values,
            "best": _running_best(values),
            "turnover": [trial.get("turnover") for trial in history],
        },
        "importances": _importances(section.get("importances"), where),
        "parallel": _parallel(history, objective),
        "pareto": _pareto(section.get("pareto_front"), where),
    }


def _running_best(values: Sequence[float | None]) -> list[float | None]:
    """The largest of ``values`` up to each position (None until the first value)."""
    best: float | None = None
    out: list[float | None] = []
    for value in values:
        if value is not None and (best is None or value > best):
            best = value
        out.append(best)
    return out


def _number(value: Any) -> bool:
    """Whether ``value`` is a JSON number or null (NaN was written as null)."""
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _tuning_list(
    section: Any, keys: tuple[str, ...], name: str, where: Path
) -> list[dict[str, Any]]:
    if not (
        isinstance(section, list)
        and all(isinstance(item, dict) and all(key in item for key in keys) for item in section)
    ):
        msg = f'{where}: "{name}" must be a list of objects that each hold {list(keys)}'
        raise SchemaError(msg)
    return section


def _comparison(section: Any, where: Path) -> dict[str, Any]:
    """Per cost level and strategy, `COMPARISON_METRICS`: the nested tuning first, the run's
    own configuration next, then the baselines in the file's order."""
    well_formed = isinstance(section, dict) and all(
        isinstance(rows, dict) and all(m is None or isinstance(m, dict) for m in rows.values())
        for rows in section.values()
    )
    if not well_formed:
        msg = f'{where}: "comparison" must map each cost level to {{strategy: metrics}}'
        raise SchemaError(msg)
    names = dict.fromkeys(name for rows in section.values() for name in rows)
    first = [name for name in (TUNED, UNTUNED) if name in names]
    return {
        "costs": list(section),
        "strategies": first + [name for name in names if name not in first],
        "metrics": list(COMPARISON_METRICS),
        "values": {
            cost: {
                name: [(metrics or {}).get(key) for key in COMPARISON_METRICS]
                for name, metrics in rows.items()
            }
            for cost, rows in section.items()
        },
    }


def _importances(section: Any, where: Path) -> dict[str, Any] | None:
    if section is None or section == {}:
        return None
    if not isinstance(section, dict):
        msg = f'{where}: "importances" must be null or {{parameter: importance}}'
        raise SchemaError(msg)
    return {"names": list(section), "values": list(section.values())}


def _parallel(history: Sequence[Mapping[str, Any]], objective: str) -> dict[str, Any] | None:
    """Parallel-coordinates axes over the trials with a value: the parameters every one of them
    sets (booleans as 0/1, text as codes of its sorted values), then the objective.

    None where fewer than two parameters are set in every trial: a parcoords axis cannot leave
    a trial out, and the parameters conditional on another (``sizing``) are set in some only.
    """
    trials = [trial for trial in history if trial["value"] is not None]
    if not trials:
        return None
    names = [
        name
        for name in trials[0]["params"]
        if all(trial["params"].get(name) is not None for trial in trials)
    ]
    if len(names) < 2:
        return None
    dimensions = [_dimension(name, [trial["params"][name] for trial in trials]) for name in names]
    dimensions.append({"label": objective, "values": [trial["value"] for trial in trials]})
    return {"trials": [trial["trial"] for trial in trials], "dimensions": dimensions}


def _dimension(name: str, values: Sequence[Any]) -> dict[str, Any]:
    if all(isinstance(v, bool) for v in values):
        return {
            "label": name,
            "values": [int(v) for v in values],
            "tickvals": [0, 1],
            "ticktext": ["false", "true"],
        }
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return {
            "label": name,
            "values": [
                v if isinstance(v, int) else float(f"{v:.{PARAMETER_SIG_FIGS}g}") for v in values
            ],
        }
    text = [str(v) for v in values]
    categories = sorted(set(text))
    code = {category: k for k, category in enumerate(categories)}
    return {
        "label": name,
        "values": [code[t] for t in text],
        "tickvals": list(range(len(categories))),
        "ticktext": categories,
    }


def _pareto(section: Any, where: Path) -> dict[str, Any] | None:
    """The Pareto front's trials in order of turnover (the front drawn as one line)."""
    if section is None:
        return None
    front = _tuning_list(section, ("trial", "value", "turnover"), "pareto_front", where)
    if not front:
        return None
    front = sorted(front, key=lambda t: (t["turnover"] is None, t["turnover"] or 0.0))
    return {key: [t[key] for t in front] for key in ("trial", "value", "turnover")}
