"""The page's static HTML: header, tables, notes, and filling the template.

Tables are rendered here rather than by the script so that they read without JavaScript and
copy cleanly; the charts are drawn by ``_report.js`` from the embedded JSON.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from importlib.resources import files
from typing import Any, Final

__all__ = [
    "escape",
    "experiment_section",
    "fill_template",
    "fold_table",
    "format_value",
    "header",
    "not_available",
    "options",
    "outcome_table",
    "read_asset",
    "strategy_table",
    "tuning_section",
]

MISSING: Final = "—"

STRATEGY_COLUMNS: Final = (
    ("n_days", "Days", "int"),
    ("total_return", "Total return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("ann_vol", "Ann. vol", "pct"),
    ("sharpe", "Sharpe", "ratio"),
    ("sortino", "Sortino", "ratio"),
    ("max_drawdown", "Max drawdown", "pct"),
    ("max_drawdown_days", "Max DD days", "int"),
    ("calmar", "Calmar", "ratio"),
    ("hit_rate", "Hit rate", "pct"),
    ("avg_holding_days", "Avg holding days", "days"),
    ("turnover", "Turnover", "ratio"),
    ("exposure", "Exposure", "pct"),
    ("net_exposure", "Net exposure", "pct"),
    ("cost_drag", "Cost drag", "pct"),
    ("n_trades", "Trades", "int"),
)
"""(key in metrics.json, column heading, format) of the strategy table, left to right.

A column shows where at least one strategy has its key; keys not listed here follow, under
their own name, as numbers to 4 significant digits.
"""

FOLD_COLUMNS: Final = (
    ("n_rows", "Test rows", "int"),
    ("ap", "AP", "metric"),
    ("base_rate", "Base rate", "metric"),
    ("roc_auc", "ROC AUC", "metric"),
    ("ic_mean", "IC mean", "metric"),
    ("ic_ir", "IC IR", "metric"),
    ("rank_ic_mean", "Rank IC mean", "metric"),
    ("rank_ic_ir", "Rank IC IR", "metric"),
    ("rank_ic_next_mean", "Rank IC mean (from t+1)", "metric"),
    ("rank_ic_no_state_probs_mean", "Rank IC mean, no layer 1", "metric"),
    ("rank_ic_next_no_state_probs_mean", "Rank IC mean (from t+1), no layer 1", "metric"),
    ("regime_macro_f1", "Regime macro F1 (labelled rows)", "metric"),
    ("regime_all_rows_macro_f1", "Regime macro F1 (all rows)", "metric"),
    ("regime_all_rows_log_loss", "Regime log loss (all rows)", "metric"),
    ("n_ic_dates", "IC dates", "int"),
    ("n_regime_rows", "Regime labelled rows", "int"),
    ("n_regime_all_rows", "Regime rows (all)", "int"),
)
"""(key in evaluation.json, column heading, format) of the per-fold table after the dates.

As for the strategy table: listed columns show where some row has the key, others follow.
Layer 1 twice: on the labelled rows (a state label, the most likely of the five states) and on
all rows with a known outcome (six outcomes, "none" included).
"""

COMPARISON_COLUMNS: Final = {
    "sharpe": ("Sharpe", "ratio"),
    "cagr": ("CAGR", "pct"),
    "max_drawdown": ("Max drawdown", "pct"),
    "turnover": ("Turnover/y", "ratio"),
    "net_exposure": ("Net exposure", "pct"),
}
"""(column heading, format) of each metric of the tuning comparison, by key in
``tuning.json``; the payload says which and in what order."""

TUNING_DESCRIPTIONS: Final = {
    "tuned_nested": "each fold traded with the parameters tuned on the folds before it only",
    "untuned": "the run's own policy and portfolio settings",
}
"""What the two strategies ``m002 tune`` adds to the comparison are (``run.json`` describes
the baselines)."""

_FORMATS: Final[Mapping[str, Callable[[float], str]]] = {
    "pct": lambda x: f"{x:.2%}",
    "ratio": lambda x: f"{x:.2f}",
    "days": lambda x: f"{x:.1f}",
    "int": lambda x: f"{round(x):,}",
    "metric": lambda x: f"{x:.3f}",
    "other": lambda x: f"{x:,}" if isinstance(x, int) else f"{x:.4g}",
}

_PLACEHOLDER: Final = re.compile(r"<!--m002:(\w+)-->")


def read_asset(name: str) -> str:
    """The text of one file shipped beside this module (template, script)."""
    return files("m002.report").joinpath(name).read_text(encoding="utf-8")


def fill_template(template: str, parts: Mapping[str, str]) -> str:
    """Replace each ``<!--m002:NAME-->`` in ``template`` by ``parts[NAME]``, in one pass.

    One pass, so that a part holding placeholder-like text (the plotly bundle) is never
    rescanned.
    """
    unused = set(parts) - set(_PLACEHOLDER.findall(template))
    if unused:  # a renamed placeholder would otherwise drop a section without a word
        msg = f"the report template has no placeholder for {sorted(unused)}"
        raise KeyError(msg)
    return _PLACEHOLDER.sub(lambda match: parts[match.group(1)], template)


def format_value(value: Any, kind: str) -> str:
    """One table cell: ``value`` in the format ``kind``, or a dash where it is null."""
    if value is None:
        return MISSING
    if isinstance(value, bool) or not isinstance(value, int | float):
        return html.escape(str(value))
    return _FORMATS[kind](value)


def escape(value: Any) -> str:
    """``value`` as HTML text (``&``, ``<``, ``>`` escaped, quotes kept), a dash for None."""
    return html.escape(MISSING if value is None else str(value), quote=False)


def _attr(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _columns(
    known: Sequence[tuple[str, str, str]], rows: Sequence[Mapping[str, Any]], *, skip: set[str]
) -> list[tuple[str, str, str]]:
    present = {key for row in rows for key in row} - skip
    columns = [column for column in known if column[0] in present]
    listed = {key for key, _, _ in known}
    extra = dict.fromkeys(key for row in rows for key in row if key in present - listed)
    return columns + [(key, escape(key), "other") for key in extra]


def _table(
    headings: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    table_id: str,
    groups: Sequence[tuple[str, int]] = (),
) -> str:
    """An HTML table; ``groups`` (heading, columns spanned) adds a heading row above."""
    head = "<tr>" + "".join(f"<th>{heading}</th>" for heading in headings) + "</tr>"
    if groups:
        above = "".join(
            f'<th colspan="{span}" class="group">{heading}</th>'
            if span > 1
            else f"<th>{heading}</th>"
            for heading, span in groups
        )
        head = f"<tr>{above}</tr>{head}"
    body = "\n".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return (
        f'<table id="{table_id}" class="metrics">\n<thead>{head}</thead>\n'
        f"<tbody>\n{body}\n</tbody>\n</table>"
    )


def header(run: Mapping[str, Any], costs: Mapping[str, Any], *, n_tickers: int, shown: int) -> str:
    """The run facts under the title: source, period, folds, tickers, version, costs."""
    folds = sorted(run.get("folds") or [], key=lambda fold: fold.get("fold", 0))
    period = (
        f"{escape(folds[0].get('test_start'))} to {escape(folds[-1].get('test_end'))}"
        if folds
        else MISSING
    )
    tickers = f"{n_tickers:,}" if shown == n_tickers else f"{n_tickers:,} (explorer: {shown:,})"
    facts = [
        ("Source", f"<code>{escape(run.get('source'))}</code>"),
        ("Test period", period),
        ("Folds", str(len(folds))),
        ("Tickers", tickers),
        ("Costs", _costs(costs)),
        ("Run by", f"m002 {escape(run.get('m002_version'))}, {escape(run.get('created'))}"),
    ]
    items = "\n".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
    config = json.dumps(run.get("config", {}), indent=2, sort_keys=True, default=str)
    return (
        f'<dl class="facts">\n{items}\n</dl>\n'
        f"<details><summary>Run configuration</summary><pre>{escape(config)}</pre></details>"
    )


def _costs(costs: Mapping[str, Any]) -> str:
    if not costs:
        return MISSING
    short = costs.get("allow_short")
    parts = [
        f"{escape(costs.get('cost_bps'))} bps cost",
        f"{escape(costs.get('slippage_bps'))} bps slippage",
        f"gross cap {escape(costs.get('gross_cap'))}",
        "shorts allowed" if short else ("long only" if short is not None else MISSING),
    ]
    return ", ".join(parts)


def strategy_table(metrics: Mapping[str, Any], descriptions: Mapping[str, Any]) -> str:
    """The strategies of ``backtest/metrics.json`` in its ``order``, one row each."""
    strategies = metrics.get("strategies") or {}
    names = [name for name in metrics.get("order") or [] if name in strategies]
    names += sorted(name for name in strategies if name not in names)
    columns = _columns(STRATEGY_COLUMNS, [strategies[name] or {} for name in names], skip=set())
    rows = []
    for name in names:
        values = strategies[name] or {}
        description = descriptions.get(name)
        label = f"<strong>{escape(name)}</strong>" + (
            f'<div class="desc">{escape(description)}</div>' if description else ""
        )
        cells = [format_value(values.get(key), kind) for key, _, kind in columns]
        rows.append([label, *cells])
    headings = ["Strategy", *(heading for _, heading, _ in columns)]
    return _table(headings, rows, table_id="strategy-table")


def fold_table(evaluation: Mapping[str, Any], run_folds: Sequence[Mapping[str, Any]]) -> str:
    """Prediction metrics of each test fold of ``evaluation.json``, then its ``overall`` row."""
    train = {fold.get("fold"): fold for fold in run_folds}
    folds = sorted(evaluation.get("folds") or [], key=lambda f: f.get("fold", 0))
    overall = evaluation.get("overall") or {}
    columns = _columns(FOLD_COLUMNS, [*folds, overall], skip={"fold", "test_start", "test_end"})
    rows = []
    for fold in folds:
        trained = train.get(fold.get("fold"), {})
        train_period = (
            f"{escape(trained.get('train_start'))} to {escape(trained.get('train_end'))}"
            if trained
            else MISSING
        )
        rows.append(
            [
                escape(fold.get("fold")),
                train_period,
                f"{escape(fold.get('test_start'))} to {escape(fold.get('test_end'))}",
                *(format_value(fold.get(key), kind) for key, _, kind in columns),
            ]
        )
    rows.append(
        [
            "<strong>overall</strong>",
            "",
            "all test rows",
            *(format_value(overall.get(key), kind) for key, _, kind in columns),
        ]
    )
    headings = ["Fold", "Train period", "Test period", *(h for _, h, _ in columns)]
    return _table(headings, rows, table_id="fold-table")


def outcome_table(reliability: Mapping[str, Any]) -> str:
    """Per outcome of the reliability payload: mean predicted probability, observed frequency
    (calibration in the large) and the rows they are over."""
    rows = [
        [
            f"<strong>{escape(name)}</strong>",
            format_value(series.get("mean_probability"), "pct"),
            format_value(series.get("frequency"), "pct"),
        ]
        for name, series in reliability["series"].items()
    ]
    headings = ["Outcome", "Mean predicted", "Observed frequency"]
    table = _table(headings, rows, table_id="reliability-table")
    return f'{table}\n<p class="hint">Over {format_value(reliability.get("n"), "int")} rows.</p>'


def options(values: Sequence[str], *, select_id: str, label: str) -> str:
    """A labelled ``<select>`` holding ``values``, the first one selected."""
    items = "".join(f'<option value="{_attr(v)}">{escape(v)}</option>' for v in values)
    return f'<label>{label} <select id="{select_id}">{items}</select></label>'


def not_available(what: str, why: str) -> str:
    """The visible note that stands where a section has no data."""
    return f'<p class="na">{escape(what)} not available: {escape(why)}</p>'


def tuning_section(tuning: Mapping[str, Any], descriptions: Mapping[str, Any]) -> str:
    """The tuning section of the page (from the payload's ``tuning``): the comparison on the
    unseen folds, the overfitting statistics, the chosen changes, the search's charts and the
    nested choices.

    Parameters
    ----------
    tuning : mapping
        The payload's ``tuning`` (see ``_payload._tuning``).
    descriptions : mapping
        ``run.json``'s strategy descriptions, shown under the baselines' names.
    """
    objective = escape(tuning["objective"])
    blocks = tuning["blocks"]
    unseen = f" (folds {_folds([b['fold'] for b in blocks])})" if blocks else ""
    parts = [
        '<section id="tuning">',
        "<h2>Tuning</h2>",
        f'<p class="hint">{_search_facts(tuning)}</p>',
        "<h3>Before and after tuning, on unseen days</h3>",
        f"<p>Over the days after {escape(tuning['reported_after'])} only{unseen}: each fold "
        "is traded with the parameters tuned on the folds before it only, so no figure here was "
        "chosen on the days it measures. Net of costs, at each cost level.</p>",
        '<div class="scroll">'
        + comparison_table(tuning["comparison"], {**descriptions, **TUNING_DESCRIPTIONS})
        + "</div>",
        "<h3>How much of it the search explains</h3>",
        _overfitting_facts(tuning),
        changes_table(tuning["chosen"].get("changes") or {}),
        "<h3>The search</h3>",
        f'<p class="hint">The final study, over every fold (in sample): each trial\'s '
        f"{objective} and the best so far; which parameters mattered; each trial across the "
        "parameters that every trial sets.</p>",
        '<div id="tuning-history-chart" class="chart"></div>',
        '<div id="tuning-importance-chart" class="chart"></div>'
        if tuning["importances"]
        else not_available("Parameter importances", "tuning.json has none (too few trials)"),
        '<div id="tuning-parallel-chart" class="chart"></div>'
        if tuning["parallel"]
        else not_available(
            "Parallel coordinates", "fewer than 2 parameters are set in every trial"
        ),
    ]
    if tuning["pareto"]:
        parts.append('<div id="tuning-pareto-chart" class="chart"></div>')
    parts += [
        "<h3>Nested choices</h3>",
        f'<p class="hint">For each fold from the first unseen one on, the best trial of a '
        f"study of its own over the folds before it (trial numbers are that study's), and its "
        f"{objective} and turnover there (in sample).</p>",
        '<div class="scroll">' + blocks_table(blocks, objective=objective) + "</div>",
        "</section>",
    ]
    return "\n".join(parts)


def experiment_section(experiment: Mapping[str, Any]) -> str:
    """The experiment section (``experiment.json`` of ``m002 experiment``): one row per arm,
    what it changed, and each layer's out-of-sample figures on the shared folds and costs."""
    from m002.evaluation import describe_change

    costs = experiment["backtest"]
    rows = []
    for arm in experiment["arms"]:
        layer1, head, book = arm["layer1"], arm["head"], arm["backtest"]
        changes = arm.get("changes") or {}
        rows.append(
            [
                f"<strong>{escape(arm['name'])}</strong>",
                "<br>".join(
                    describe_change(escape(k), v, show=_parameter) for k, v in changes.items()
                )
                or MISSING,
                format_value(layer1.get("macro_f1_all_rows"), "metric"),
                format_value(layer1.get("macro_f1_labelled"), "metric"),
                format_value(head.get("ap"), "metric"),
                format_value(head.get("base_rate"), "metric"),
                format_value(head.get("rank_ic"), "other"),
                format_value(head.get("rank_ic_next"), "other"),
                format_value(head.get("rank_ic_next_no_state_probs"), "other"),
                format_value(book.get("sharpe"), "ratio"),
                format_value(book.get("cagr"), "pct"),
                format_value(book.get("max_drawdown"), "pct"),
                format_value(book.get("turnover"), "ratio"),
                format_value(layer1.get("models_fitted"), "int"),
                format_value(arm.get("wall_s"), "int"),
            ]
        )
    reference = experiment["reference"].get("buy_and_hold") or {}
    rows.append(
        ["buy_and_hold", "(reference)", *[MISSING] * 7]
        + [format_value(reference.get(k), kind) for k, kind in
           (("sharpe", "ratio"), ("cagr", "pct"), ("max_drawdown", "pct"), ("turnover", "ratio"))]
        + [MISSING, MISSING]
    )  # fmt: skip
    headings = ["Arm", "Changes", "F1 all rows", "F1 labelled", "AP", "Base rate",
                "Rank IC (t)", "Rank IC (t+1)", "Rank IC (t+1), no layer 1", "Sharpe", "CAGR",
                "Max DD", "Turnover/y", "Layer-1 fits", "Wall s"]  # fmt: skip
    groups = [("", 2), ("Layer 1", 2), ("Head", 5), (escape(experiment["strategy"]), 4), ("", 2)]
    return "\n".join(
        [
            '<section id="experiment">',
            "<h2>Experiment</h2>",
            f'<p class="hint">Every arm walked forward on the same folds, net of '
            f"{costs['cost_bps']:g} bps + {costs['slippage_bps']:g} bps slippage per side; "
            "all figures out of sample. Changes: the keys an arm sets unlike the first one; "
            "layer 1's macro F1 on every row with a known outcome and on the rows labelled "
            "with a state; the head's average precision beside the rebound base rate and the "
            "rank IC of its expected return, against the return from the prediction's close (t) "
            "and from the next close (t+1, Qlib's label), and that of the same head without "
            "layer 1's probabilities (the ablation). The rest of this page is the first arm's "
            "run.</p>",
            '<div class="scroll">'
            + _table(headings, rows, table_id="experiment-table", groups=groups)
            + "</div>",
            "</section>",
        ]
    )


def comparison_table(comparison: Mapping[str, Any], descriptions: Mapping[str, Any]) -> str:
    """One row per strategy; per cost level, the comparison's metrics."""
    costs, metrics = comparison["costs"], comparison["metrics"]
    columns = [COMPARISON_COLUMNS.get(key, (escape(key), "other")) for key in metrics]
    rows = []
    for name in comparison["strategies"]:
        description = descriptions.get(name)
        label = f"<strong>{escape(name)}</strong>" + (
            f'<div class="desc">{escape(description)}</div>' if description else ""
        )
        cells = []
        for cost in costs:
            values = comparison["values"][cost].get(name) or [None] * len(metrics)
            cells += [format_value(v, kind) for v, (_, kind) in zip(values, columns, strict=True)]
        rows.append([label, *cells])
    groups = [("", 1), *((escape(cost), len(metrics)) for cost in costs)]
    headings = ["Strategy", *(heading for _ in costs for heading, _ in columns)]
    return _table(headings, rows, table_id="tuning-comparison-table", groups=groups)


def changes_table(changes: Mapping[str, Any]) -> str:
    """The chosen configuration's values, one parameter a row."""
    rows = [[escape(name), _parameter(value)] for name, value in changes.items()]
    return _table(["Parameter", "Chosen value"], rows, table_id="tuning-changes-table")


def blocks_table(blocks: Sequence[Mapping[str, Any]], *, objective: str) -> str:
    """One row per nested choice: the fold it decided, the folds it was tuned on, the trial."""
    rows = [
        [
            escape(block.get("fold")),
            _folds(block.get("tuned_on") or []),
            format_value(block.get("trial"), "int"),
            format_value(block.get("in_sample"), "metric"),
            format_value(block.get("turnover_in_sample"), "ratio"),
        ]
        for block in blocks
    ]
    headings = ["Fold", "Tuned on folds", "Trial", f"{objective} (in sample)", "Turnover/y"]
    return _table(headings, rows, table_id="tuning-blocks-table")


def _search_facts(tuning: Mapping[str, Any]) -> str:
    facts = [f"Objective <code>{escape(tuning['objective'])}</code>"]
    if tuning.get("study"):
        facts.append(f"study <code>{escape(tuning['study'])}</code>")
    n_trials = len(tuning["history"]["trial"])
    over = f" over folds {_folds(tuning['folds'])}" if tuning.get("folds") else ""
    facts.append(f"{n_trials:,} trials in the final study{over}")
    if tuning.get("seconds") is not None:
        facts.append(f"searched in {tuning['seconds']:.1f} s")
    return "; ".join(facts) + ". Written by <code>m002 tune</code>."


def _overfitting_facts(tuning: Mapping[str, Any]) -> str:
    objective = escape(tuning["objective"])
    dsr, pbo, chosen = tuning["dsr"] or {}, tuning["pbo"], tuning["chosen"]
    dropped = dsr.get("n_trials_dropped") or 0
    not_counted = (
        f"; {dropped:,} trial{'s' if dropped != 1 else ''} without a Sharpe ratio not counted"
        if dropped
        else ""
    )
    n_trials = format_value(dsr.get("n_trials"), "int")
    deflated = (
        f"<strong>{format_value(dsr.get('dsr'), 'metric')}</strong>, the probability that the "
        f"chosen trial's true Sharpe ratio beats the best of {n_trials} trials with no skill: "
        f"its annual Sharpe {format_value(dsr.get('sharpe_annual'), 'metric')} (in sample) "
        f"against {format_value(dsr.get('expected_max_sharpe_annual'), 'metric')} expected of "
        f"that best (over {format_value(dsr.get('n_periods'), 'int')} days{not_counted})"
    )
    overfitting = (
        f"<strong>{format_value(pbo.get('pbo'), 'metric')}</strong>, the share of "
        f"{format_value(pbo.get('n_combinations'), 'int')} splits of "
        f"{format_value(pbo.get('n_blocks'), 'int')} blocks in which the best of "
        f"{format_value(pbo.get('n_trials'), 'int')} trials in sample ranks below the median "
        f"out of sample; it loses money out of sample in "
        f"{format_value(pbo.get('prob_oos_loss'), 'metric')} of them"
        if pbo
        else f"{MISSING} (not computed: too few trials or days for its blocks)"
    )
    in_sample = (
        f"trial {format_value(chosen.get('trial'), 'int')}, written to <code>tuned.toml</code>: "
        f"{objective} {format_value(chosen.get('in_sample'), 'metric')} <strong>in sample"
        "</strong> (chosen on every fold and measured on the same days: optimistic), turnover/y "
        f"{format_value(chosen.get('turnover_in_sample'), 'ratio')}"
    )
    facts = [
        ("Deflated Sharpe ratio", deflated),
        ("Probability of backtest overfitting", overfitting),
        ("Chosen configuration", in_sample),
    ]
    items = "\n".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
    return f'<dl class="facts">\n{items}\n</dl>'


def _folds(folds: Sequence[Any]) -> str:
    """Fold ids as ``a-b`` where they run without a gap, else listed."""
    ids = list(folds)
    if not ids:
        return MISSING
    consecutive = all(isinstance(f, int) and not isinstance(f, bool) for f in ids) and ids == list(
        range(ids[0], ids[0] + len(ids))
    )
    if consecutive and len(ids) > 1:
        return f"{ids[0]}-{ids[-1]}"
    return ", ".join(escape(f) for f in ids)


def _parameter(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return format_value(value, "other")
