"""`m002 tune`: nested Bayesian tuning of a run's policy and portfolio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from m002.cli._app import main
from m002.cli._common import (
    _fmt,
    _friendly_errors,
    _print_wide,
    _read_toml,
    _with_executor_options,
    out,
)

_COLUMNS = (
    ("sharpe", "Sharpe", "+.2f"),
    ("cagr", "CAGR", "+.1%"),
    ("max_drawdown", "max DD", ".1%"),
    ("turnover", "turnover/y", ".1f"),
    ("net_exposure", "net", "+.2f"),
)


def _comparison_table(summary: dict[str, Any]) -> Table:
    table = Table(
        title=f"unseen folds: the days after {summary['reported_after']} (nested: each fold "
        "decided by parameters tuned on the folds before it)",
        caption="untuned: the run's own [policy]/[portfolio], re-decided on the same rows",
        caption_justify="left",
    )
    table.add_column("strategy", no_wrap=True)
    costs = list(summary["comparison"])
    for cost in costs:
        for _, header, _ in _COLUMNS:
            table.add_column(f"{header} @{cost}", justify="right")
    names = list(summary["comparison"][costs[0]])
    for name in names:
        cells = [
            _fmt(summary["comparison"][cost][name].get(key), spec)
            for cost in costs
            for key, _, spec in _COLUMNS
        ]
        table.add_row(name, *cells)
    return table


def _overfitting_lines(summary: dict[str, Any]) -> list[str]:
    chosen = summary["chosen"]
    dsr = summary["overfitting"]["dsr"]
    pbo = summary["overfitting"]["pbo"]
    lines = [
        f"chosen on every fold (written to the config): trial {chosen['trial']}, "
        f"{summary['objective']} {chosen['in_sample']:.3f} in sample, turnover "
        f"{_fmt(chosen['turnover_in_sample'], '.1f')}/y",
        f"deflated Sharpe ratio {_fmt(dsr.get('dsr'), '.3f')}: Sharpe "
        f"{_fmt(dsr.get('sharpe_annual'), '.2f')} against {_fmt(dsr.get('expected_max_sharpe_annual'), '.2f')} "  # noqa: E501
        f"expected from the best of {dsr.get('n_trials')} zero-skill trials",
    ]
    if pbo is not None:
        lines.append(
            f"probability of backtest overfitting {pbo['pbo']:.3f} ({pbo['n_combinations']} "
            f"splits of {pbo['n_blocks']} blocks, {pbo['n_trials']} trials)"
        )
    timing = summary["timing"]
    lines.append(
        f"{timing['evaluations']} trials in {timing['seconds']:.1f} s "
        f"({_fmt(timing['trials_per_second'], '.0f')}/s): sampler {timing['sampler_seconds']:.1f} s, "  # noqa: E501
        f"evaluation {timing['evaluation_seconds']:.1f} s in threads, overlapping it (waited "
        f"for {timing.get('waiting_seconds', 0.0):.1f} s)"
    )
    return lines


@main.command("tune")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_file",
    type=click.Path(path_type=Path),
    required=True,
    help="The config file to write (tuned.toml): the run's config with the chosen [policy] "
    "and [portfolio]; every command's --config accepts it.",
)
@click.option("--trials", type=int, default=200, show_default=True, help="Trials per study.")
@click.option(
    "--objective",
    type=click.Choice(["sharpe", "sortino", "calmar", "return_with_dd_limit"]),
    default="sharpe",
    show_default=True,
    help="Maximised net of the run's costs.",
)
@click.option(
    "--dd-limit",
    type=float,
    default=0.2,
    show_default=True,
    help="Drawdown return_with_dd_limit allows unpenalised.",
)
@click.option(
    "--max-turnover",
    type=float,
    default=None,
    help="Choose among trials trading at most this much a year.",
)
@click.option(
    "--pareto", is_flag=True, help="Two objectives: the objective and turnover (Pareto front)."
)
@click.option(
    "--space",
    "space_file",
    type=click.Path(path_type=Path),
    default=None,
    help="TOML file whose [space] table overrides the search (docs/tuning.md).",
)
@click.option(
    "--storage",
    default=None,
    help="Where the studies live: sqlite:///FILE.db or journal:///FILE.log (default: memory).",
)
@click.option("--study", default="m002-tune", show_default=True, help="Name of the final study.")
@click.option("--resume", is_flag=True, help="Continue the studies in --storage.")
@click.option(
    "--jobs",
    type=int,
    default=2,
    show_default=True,
    help="Trials evaluated at once, in threads (each value draws its own sequence of trials).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the sampler.")
@click.option(
    "--first-block",
    type=int,
    default=2,
    show_default=True,
    help="First test fold (0-based) decided by nested-tuned parameters; the folds before it "
    "only tune.",
)
@_with_executor_options("local")
@_friendly_errors
def tune_cmd(
    run_dir: Path,
    out_file: Path,
    trials: int,
    objective: str,
    dd_limit: float,
    max_turnover: float | None,
    pareto: bool,
    space_file: Path | None,
    storage: str | None,
    study: str,
    resume: bool,
    jobs: int,
    seed: int,
    first_block: int,
    executor: str,
    workers: int,
    ray_address: str,
) -> None:
    """Tune the [policy] and [portfolio] of a walk-forward run on its cached predictions.

    Each test fold from the third on is decided by parameters tuned on the folds before it
    only: that curve, next to the untuned run and its baselines, is what tuning is worth.
    The config written is tuned on every fold; its in-sample figure comes with the deflated
    Sharpe ratio and the probability of backtest overfitting. Nothing is re-trained. The
    studies (one per nested fold, and the final one) run here, in worker processes or as
    Ray tasks (--executor), each drawing the same trials wherever it runs.
    """
    from m002.evaluation import ExecutorConfig
    from m002.exceptions import ConfigError

    try:
        from m002.tuning import DEFAULT_SPACE, Param, TuneConfig, space_from_dict, tune_run
    except ImportError as exc:
        msg = f"m002 tune needs the tune extra ({exc.name} is missing): pip install 'm002[tune]'"
        raise ConfigError(msg) from None

    if resume and storage is None:
        msg = "--resume needs --storage (an in-memory study ends with the process)"
        raise ConfigError(msg)
    space: tuple[Param, ...] = DEFAULT_SPACE
    fixed: dict[str, Any] = {}
    if space_file is not None:
        space, fixed = space_from_dict(_read_space(space_file))
    config = TuneConfig(
        trials=trials,
        objective=objective,
        dd_limit=dd_limit,
        max_turnover=max_turnover,
        pareto=pareto,
        jobs=jobs,
        seed=seed,
        first_block=first_block,
    )
    result = tune_run(
        run_dir,
        out=out_file,
        config=config,
        space=space,
        fixed=fixed,
        storage=storage,
        study=study,
        resume=resume,
        progress=lambda line: out.print(line, highlight=False),
        executor=ExecutorConfig(executor, workers, ray_address),
    )
    _print_wide(_comparison_table(result.summary))
    for line in _overfitting_lines(result.summary):
        out.print(line, highlight=False)
    out.print(
        f"written: {out_file} and {Path(run_dir) / 'tuning'}; next: `m002 backtest {run_dir} "
        f"--config {out_file}`, `m002 report {run_dir} --out report.html`",
        highlight=False,
    )


def _read_space(path: Path) -> dict[str, Any]:
    """The ``[space]`` table of a TOML file."""
    from m002.exceptions import ConfigError

    data = _read_toml(path, "space file")
    unknown = sorted(set(data) - {"space"})
    if unknown or not isinstance(data.get("space", {}), dict):
        msg = f"{path}: a space file holds one [space] table, got {unknown or data.get('space')!r}"
        raise ConfigError(msg)
    space: dict[str, Any] = data.get("space", {})
    return space
