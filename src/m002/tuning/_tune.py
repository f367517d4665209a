"""`tune_run`: nested Bayesian tuning of a walk-forward run's policy and portfolio.

The honest number
-----------------
For each test fold from the ``first_block``-th on (0-based; the third by default), a study
chooses the parameters on the folds before it only, and they decide that fold. One pass with
that schedule (the book carried over, the switch traded and charged) is the tuned strategy's
out-of-sample curve, reported next to the untuned run and its baselines on the same days and
costs. A last study over every fold chooses the configuration written to ``tuned.toml``; its
in-sample figure comes with the deflated Sharpe ratio and the probability of backtest
overfitting, and the file records the nested figures beside it.

Every study is an Optuna study (TPE, multivariate, seeded; `m002.tuning._sampler`) over
`m002.tuning._space`; a trial is one compiled pass over the run's cached predictions
(`Evaluator`): no layer is re-trained.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from m002._checks import check_field_types, check_int
from m002._io import atomic_dir, check_replaceable, toml_text, write_json, write_toml
from m002._schema import DATE, TICKER
from m002.evaluation import (
    ExecutorConfig,
    read_run_json,
    run_backtest,
    run_config_from_dict,
    run_tasks,
)
from m002.evaluation._backtest import TRADING_DAYS, return_ratios
from m002.evaluation._run import RUN_FILES, TUNING_DIR
from m002.exceptions import ConfigError
from m002.policy import PolicyConfig
from m002.portfolio import PortfolioConfig
from m002.tuning._evaluate import Evaluator, encode, fold_days
from m002.tuning._overfit import deflated_sharpe_ratio, probability_of_backtest_overfitting
from m002.tuning._space import DEFAULT_SPACE, Param, Value, changes_of, suggest

__all__ = ["OBJECTIVES", "TuneConfig", "TuneResult", "objective_value", "tune_run"]

logger = logging.getLogger("m002.tuning")

OBJECTIVES: Final = ("sharpe", "sortino", "calmar", "return_with_dd_limit")
DEFAULT_STUDY: Final = "m002-tune"
_MAX_FAILED: Final = 50
"""Invalid trials in a row after which a search stops: its space cannot give valid ones."""


@dataclass(frozen=True)
class TuneConfig:
    """How `tune_run` searches.

    Parameters
    ----------
    trials : int, default 200
        Trials per study (each nested block's and the final one), >= 1. With ``resume``,
        a study that has some already gets only the rest.
    objective : str, default ``"sharpe"``
        What a study maximises on its days, net of costs: ``"sharpe"``, ``"sortino"``,
        ``"calmar"``, or ``"return_with_dd_limit"`` (CAGR less twice the part of the
        maximum drawdown beyond ``dd_limit``).
    dd_limit : float, default 0.2
        Drawdown (a positive fraction) that ``"return_with_dd_limit"`` allows unpenalised.
    max_turnover : float or None, default None
        A trial trading more than this a year (both sides) is not chosen while one within
        it exists.
    pareto : bool, default False
        Two objectives: maximise the objective and minimise turnover (the report plots the
        front); the choice still follows ``max_turnover`` and then the objective.
    jobs : int, default 2
        Trials evaluated at once, each in a thread (the compiled pass releases the GIL),
        while the sampler draws the next ones. A fixed number, not the machine's core count:
        each value draws its own sequence of trials, so the same run, seed and ``jobs`` give
        the same result on any machine (2: 68 trials a second on the sample's run on 2 cores;
        1: 38 before nested trials stopped early).
    seed : int, default 0
        Seed of the sampler (block ``i`` uses ``seed + i``).
    first_block : int, default 2
        Index of the first fold that gets nested-tuned parameters (>= 1: it needs a fold
        before it to tune on).
    pbo_blocks : int, default 16
        Blocks of the combinatorially symmetric cross-validation (even, >= 2).
    """

    trials: int = 200
    objective: str = "sharpe"
    dd_limit: float = 0.2
    max_turnover: float | None = None
    pareto: bool = False
    jobs: int = 2
    seed: int = 0
    first_block: int = 2
    pbo_blocks: int = 16

    def __post_init__(self) -> None:
        check_field_types(self)
        check_int("trials", self.trials, 1)
        check_int("jobs", self.jobs, 1)
        check_int("first_block", self.first_block, 1)
        check_int("pbo_blocks", self.pbo_blocks, 2)
        if self.objective not in OBJECTIVES:
            msg = f"`objective` must be one of {OBJECTIVES}, got `objective={self.objective!r}`"
            raise ConfigError(msg)
        if self.dd_limit <= 0:
            msg = f"`dd_limit` must be > 0, got `dd_limit={self.dd_limit!r}`"
            raise ConfigError(msg)


def objective_value(net: npt.NDArray[np.float64], objective: str, *, dd_limit: float) -> float:
    """The objective of daily net returns (equity from 1 on their first day); 0 where it is
    undefined (no variation: a book that never traded)."""
    if net.size < 2:
        return 0.0
    if objective in ("sharpe", "sortino"):
        sharpe, sortino = return_ratios(net)
        value = sharpe if objective == "sharpe" else sortino
        return 0.0 if value is None else value
    equity = np.cumprod(1.0 + net)
    drawdown = float((equity / np.maximum(np.maximum.accumulate(equity), 1.0) - 1.0).min())
    total = float(equity[-1])
    cagr = total ** (TRADING_DAYS / net.size) - 1.0 if total > 0.0 else -1.0
    if objective == "calmar":
        return cagr / -drawdown if drawdown < 0.0 else 0.0
    return cagr - 2.0 * max(0.0, -drawdown - dd_limit)


@dataclass
class _Search:
    """What every study of one tuning shares."""

    evaluator: Evaluator
    policy: PolicyConfig
    portfolio: PortfolioConfig
    space: tuple[Param, ...]
    fixed: dict[str, Value]
    config: TuneConfig
    storage_url: str | None
    """Where the studies live; each process opens it for itself (`_storage`)."""
    resume: bool
    sampler_seconds: float = 0.0
    evaluation_seconds: float = 0.0
    waiting_seconds: float = 0.0
    evaluations: int = 0

    def configs(self, changes: dict[str, Value]) -> tuple[PolicyConfig, PortfolioConfig]:
        """The run's configurations with a trial's changes, validated."""
        policy_fields = {f.name for f in dataclasses.fields(PolicyConfig)}
        on_policy = {k: v for k, v in changes.items() if k in policy_fields}
        on_portfolio = {k: v for k, v in changes.items() if k not in policy_fields}
        return (
            dataclasses.replace(self.policy, **on_policy),  # type: ignore[arg-type]
            self.portfolio.replace(**on_portfolio),
        )

    def params(self, changes: dict[str, Value]) -> npt.NDArray[np.float64]:
        return encode(*self.configs(changes))

    @property
    def sizing(self) -> str:
        """The sizing of trials where the search does not draw one."""
        return str(self.fixed.get("sizing", self.portfolio.sizing))


def _storage(url: str | None) -> Any:
    """An Optuna storage: None (in memory), ``sqlite:///FILE`` (RDB, with a busy timeout so
    that concurrent writers wait) or ``journal:///FILE`` / a path ending in ``.log`` (the
    journal file storage)."""
    if url is None:
        return None
    import optuna

    if url.startswith("journal://") or url.endswith(".log"):
        from optuna.storages.journal import JournalFileBackend

        path = url.removeprefix("journal://")
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    import sqlalchemy.exc

    engine_kwargs = {"connect_args": {"timeout": 300}} if url.startswith("sqlite:") else {}
    attempt = 0
    while True:
        attempt += 1
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except sqlalchemy.exc.ArgumentError as exc:
            msg = (
                f"--storage {url!r} is not a storage m002 can open ({exc}): give "
                "sqlite:///FILE.db, journal:///FILE.log or a database URL"
            )
            raise ConfigError(msg) from None
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as exc:
            # two processes that open a new database at once both create its schema, and
            # the second fails on a unique key (a known Optuna race): it waits and retries
            if attempt == 10:
                msg = f"--storage {url!r} cannot be opened: {exc.orig}"
                raise ConfigError(msg) from None
            time.sleep(0.2 * attempt)


def _study(search: _Search, name: str, seed: int) -> Any:
    import optuna

    storage = _storage(search.storage_url)
    directions: list[Any] = ["maximize", "minimize"] if search.config.pareto else ["maximize"]
    from m002.tuning._sampler import SizingTPESampler

    sampler = SizingTPESampler(search.space, search.sizing, seed=seed)
    if storage is not None and not search.resume:
        names = {s.study_name: s for s in optuna.get_all_study_summaries(storage)}
        if name in names and names[name].n_trials:
            msg = (
                f"the study `{name}` already has {names[name].n_trials} trial(s) in the "
                "storage: pass --resume to continue it, or another --study name"
            )
            raise ConfigError(msg)
    study = optuna.create_study(
        storage=storage,
        study_name=name,
        directions=directions,
        sampler=sampler,
        load_if_exists=True,
    )
    signature = {
        "objective": search.config.objective,
        "pareto": search.config.pareto,
        "space": [p.describe() + f" [{p.name}]" for p in search.space],
        "fixed": {k: str(v) for k, v in search.fixed.items()},
    }
    stored = study.user_attrs.get("signature")
    if stored is None:
        study.set_user_attr("signature", signature)
    elif stored != signature:
        msg = (
            f"the study `{name}` was made with another objective or search space: resume it "
            "with the same --objective and --space, or choose another --study name"
        )
        raise ConfigError(msg)
    return study


def _complete(study: Any) -> list[Any]:
    import optuna

    return list(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))


def _optimise(
    search: _Search,
    study: Any,
    days: npt.NDArray[np.bool_],
    keep: dict[int, npt.NDArray[np.float64]] | None = None,
) -> None:
    """Add trials until the study has ``trials`` complete ones (counting those of any other
    process writing to it). ``keep`` receives each trial's daily net returns.

    Batches of ``jobs`` trials are evaluated in threads (the compiled pass releases the
    GIL) while the main thread draws the next batch: the sampler and the evaluation
    overlap, and as each batch is drawn at the same point of the sequence whatever the
    timing, one process with one seed always draws the same trials.
    """
    from m002.tuning._sampler import vectorised_truncnorm

    config = search.config
    batch = config.jobs
    done = len(_complete(study))
    # a nested study scores the early folds only: its trials stop after their last date
    until = int(np.flatnonzero(days)[-1]) + 1
    state = _Draw(search, study, search.sizing, until)
    with (
        concurrent.futures.ThreadPoolExecutor(config.jobs) as pool,
        vectorised_truncnorm(),
    ):
        try:
            in_flight = state.ask(pool, min(batch, config.trials - done))
            rounds = 0
            while in_flight:
                # drawn while the batch before it evaluates: its trials are running, and the
                # sampler's constant liar keeps the new ones away from them
                upcoming = state.ask(pool, min(batch, config.trials - done - len(in_flight)))
                done += state.tell(in_flight, days, keep)
                in_flight = upcoming
                rounds += 1
                if not in_flight or rounds % _RECOUNT_EVERY == 0:
                    done = max(done, len(_complete(study)))  # other processes' trials count
                    if not in_flight:
                        in_flight = state.ask(pool, min(batch, config.trials - done))
        except BaseException:
            # interrupted (Ctrl-C, an error): the trials asked and not told would stay
            # "running" in the storage, and a resumed sampler would keep avoiding them
            state.abandon()
            raise


_RECOUNT_EVERY: Final = 20
"""Batches between two counts of a study's complete trials in its storage (a count reads
every trial: with SQLite, reading them after each batch would cost more than the trials)."""


@dataclass
class _Draw:
    """Asking and telling one study's trials, with the time each side takes."""

    search: _Search
    study: Any
    sizing: str
    until: int
    """Dates each trial simulates: up to the last one the study scores."""
    failed_in_a_row: int = 0
    asked: dict[int, Any] = dataclasses.field(default_factory=dict)
    """Trials asked and not yet told, by number."""

    def abandon(self) -> None:
        """Tell every trial asked and not told that it failed."""
        import optuna

        for trial in self.asked.values():
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        self.asked.clear()

    def ask(self, pool: Any, count: int) -> list[tuple[Any, Any, str]]:
        started = time.perf_counter()
        items: list[tuple[Any, Any, str]] = []
        search = self.search
        for _ in range(max(count, 0)):
            trial = self.study.ask()
            self.asked[trial.number] = trial
            trial.set_user_attr("worker", f"{os.uname().nodename}:{os.getpid()}")
            try:
                values = suggest(trial, search.space, self.sizing)
                params = search.params(changes_of(values, search.fixed))
            except ConfigError as exc:
                items.append((trial, None, str(exc)))
                continue
            items.append((trial, pool.submit(_timed, search.evaluator, params, self.until), ""))
        search.sampler_seconds += time.perf_counter() - started
        return items

    def tell(
        self,
        items: list[tuple[Any, Any, str]],
        days: npt.NDArray[np.bool_],
        keep: dict[int, npt.NDArray[np.float64]] | None,
    ) -> int:
        """Tell each trial its result (waiting for it); the number that completed."""
        import optuna

        search, config = self.search, self.search.config
        per_year = TRADING_DAYS / max(int(days.sum()), 1)
        completed = 0
        for trial, future, error in items:
            if future is None:
                trial.set_user_attr("error", error)
                self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
                del self.asked[trial.number]
                self.failed_in_a_row += 1
                if self.failed_in_a_row >= _MAX_FAILED:
                    msg = (
                        f"the last {self.failed_in_a_row} trials of `{self.study.study_name}` "
                        f"drew configurations that are not valid; the last one: {error}. "
                        "Check the search space (--space)"
                    )
                    raise ConfigError(msg)
                continue
            started = time.perf_counter()
            daily, seconds = future.result()
            search.waiting_seconds += time.perf_counter() - started
            search.evaluation_seconds += seconds
            search.evaluations += 1
            started = time.perf_counter()
            self.failed_in_a_row = 0
            value = objective_value(daily[days, 0], config.objective, dd_limit=config.dd_limit)
            turnover = float(daily[days, 2].sum()) * per_year
            trial.set_user_attr("turnover", turnover)
            if keep is not None:
                keep[trial.number] = daily[:, 0]
            self.study.tell(trial, [value, turnover] if config.pareto else value)
            del self.asked[trial.number]
            completed += 1
            search.sampler_seconds += time.perf_counter() - started
        return completed


def _timed(
    evaluator: Evaluator, params: npt.NDArray[np.float64], until: int
) -> tuple[npt.NDArray[np.float64], float]:
    started = time.perf_counter()
    daily = evaluator.daily(params, until=until)[0]
    return daily, time.perf_counter() - started


def _choose(study: Any, config: TuneConfig) -> Any:
    """The complete trial with the best objective among those within ``max_turnover`` (all,
    where none is); ties go to the earliest trial."""
    trials = _complete(study)
    if not trials:
        msg = f"the study `{study.study_name}` has no complete trial: every trial failed"
        raise ConfigError(msg)
    cap = config.max_turnover
    within = [t for t in trials if cap is None or t.user_attrs.get("turnover", math.inf) <= cap]
    pool = within or trials
    return max(pool, key=lambda t: (t.values[0], -t.number))


@dataclass(frozen=True)
class TuneResult:
    """What `tune_run` found: the chosen configurations and the figures written."""

    policy: PolicyConfig
    portfolio: PortfolioConfig
    summary: dict[str, Any]


def _trial_changes(search: _Search, trial: Any) -> dict[str, Value]:
    return changes_of(dict(trial.params), search.fixed)


def _schedule(evaluator: Evaluator, blocks: Sequence[dict[str, Any]]) -> npt.NDArray[np.int64]:
    """Row of the parameter table deciding each date: 0 (the run's own) before the first
    tuned block, ``i + 1`` on the dates of block ``i``."""
    schedule = np.zeros(evaluator.n_dates, dtype=np.int64)
    for i, block in enumerate(blocks):
        schedule[evaluator.fold_of_date == block["fold"]] = i + 1
    return schedule


def _comparison(
    search: _Search,
    nested_params: npt.NDArray[np.float64],
    schedule: npt.NDArray[np.int64],
    run_signals: pl.DataFrame,
    prices: pl.DataFrame,
    after: Any,
    costs: Sequence[float],
) -> dict[str, dict[str, dict[str, Any]]]:
    """Metrics of the untuned run, the nested-tuned strategy and the run's baselines on the
    days after ``after``, per cost level (bps per side)."""
    evaluator = search.evaluator
    default = search.params({})
    default_weights = evaluator.weights(default)
    nested_weights = evaluator.weights(nested_params, schedule)
    signals = (
        evaluator.signals(default_weights, "untuned")
        .join(evaluator.signals(nested_weights, "tuned_nested"), on=[TICKER, DATE])
        .join(run_signals, on=[TICKER, DATE], how="left")
    )
    names = [
        "untuned",
        "tuned_nested",
        *[c for c in run_signals.columns if c not in (TICKER, DATE)],
    ]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for bps in costs:
        config = dataclasses.replace(evaluator.backtest, cost_bps=float(bps))
        result = run_backtest(signals.fill_null(0.0), prices, config, strategies=names)
        out[f"{bps:g}bps"] = result.metrics(after=after)
    return out


def tune_run(
    run_dir: str | Path,
    *,
    out: str | Path,
    config: TuneConfig | None = None,
    space: tuple[Param, ...] = DEFAULT_SPACE,
    fixed: dict[str, Value] | None = None,
    storage: str | None = None,
    study: str = DEFAULT_STUDY,
    resume: bool = False,
    baselines: Sequence[str] = (
        "buy_and_hold",
        "m002_spec",
        "m002_no_state_probs",
        "oracle_regime",
        "oracle_regime_long_only",
    ),
    costs: Sequence[float] = (10.0, 20.0),
    progress: Callable[[str], None] | None = None,
    executor: ExecutorConfig | None = None,
) -> TuneResult:
    """Tune the policy and portfolio of a walk-forward run and write what was found.

    Parameters
    ----------
    run_dir : str or Path
        A folder written by ``m002 walkforward`` (its predictions are the trials' input).
    out : str or Path
        The config file to write (``tuned.toml``): the run's config with the chosen
        ``[policy]`` and ``[portfolio]``, the nested figures in its header.
    config : TuneConfig, optional
    space : tuple of Param
        The search (`m002.tuning.DEFAULT_SPACE`, or `space_from_dict`'s result).
    fixed : dict, optional
        Fields every trial sets to the same value.
    storage : str, optional
        Where the studies live (``sqlite:///FILE``, ``journal:///FILE``); in memory by
        default (nothing to resume then).
    study : str
        Name of the final study; block ``k``'s is ``{study}.fold{k}``.
    resume : bool
        Continue studies already in ``storage`` up to ``trials`` each.
    baselines : sequence of str
        Strategies of the run's ``signals.parquet`` shown beside the tuned one (those the
        run has: the oracles only on synthetic data, where they show what there is to find).
    costs : sequence of float
        Cost levels (bps per side) of the comparison table.
    progress : callable, optional
        Receives a line per finished study.
    executor : ExecutorConfig, optional
        Where the studies run (`m002.evaluation.ExecutorConfig`): one after another here
        (default), in worker processes or as Ray tasks. Each study is seeded and draws the
        same trials wherever it runs; with a storage, every worker opens it for itself.

    Returns
    -------
    TuneResult

    Raises
    ------
    ConfigError
        For a run with fewer than ``first_block + 1`` folds, a portfolio rule the compiled
        evaluation does not carry, an existing study without ``resume``, or a resumed study
        made with another objective or space.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = config or TuneConfig()
    folder = Path(run_dir)
    run = read_run_json(folder)
    run_config = run_config_from_dict(run["config"])
    pipeline, backtest = run_config.pipeline, run_config.backtest
    predictions = pl.read_parquet(folder / RUN_FILES["predictions"])
    target = folder / TUNING_DIR
    check_replaceable(target, kind="tuning", option="the run's tuning folder")
    _check_writable(run_config)
    started = time.perf_counter()
    evaluator = Evaluator(predictions, pipeline.policy, pipeline.portfolio, backtest)
    folds = sorted(int(f) for f in np.unique(evaluator.fold_of_date) if f >= 0)
    if len(folds) <= config.first_block:
        msg = (
            f"nested tuning needs more than `first_block={config.first_block}` test folds, the "
            f"run has {len(folds)}: run a longer walk-forward, or lower --first-block"
        )
        raise ConfigError(msg)
    search = _Search(
        evaluator=evaluator,
        policy=pipeline.policy,
        portfolio=pipeline.portfolio,
        space=space,
        fixed=dict(fixed or {}),
        config=config,
        storage_url=storage,
        resume=resume,
    )
    say = progress or logger.info
    compiling = time.perf_counter()
    evaluator.daily(search.params({}))  # compiles the pass on a machine's first tuning
    if (seconds := time.perf_counter() - compiling) > 1.0:
        say(f"compiled the evaluation pass in {seconds:.0f} s (cached for later runs)")
    _storage(storage)  # a URL that cannot be opened fails here, before any trial
    all_days = fold_days(evaluator.fold_of_date, folds)
    nested = range(config.first_block, len(folds))
    tasks: list[tuple[str, int, npt.NDArray[np.bool_], bool]] = [
        *(
            (f"{study}.fold{folds[i]}", config.seed + i, _tuning_days(evaluator, folds[:i]), False)
            for i in nested
        ),
        (study, config.seed, all_days, True),
    ]

    def done(index: int, outcome: _StudyOutcome) -> None:
        if index < len(nested):
            i = nested[index]
            say(
                f"fold {folds[i]}: tuned on folds {folds[0]}-{folds[i - 1]}, "
                f"{outcome.best.values[0]:.3f}"
            )

    # each study evaluates more days than the one before, the last every day: longest first
    outcomes = run_tasks(_study_task, search, tasks, executor, on_done=done, start_from_last=True)
    for outcome in outcomes:
        outcome.add_timing_to(search)
    blocks: list[dict[str, Any]] = [
        {
            "fold": folds[i],
            "tuned_on": folds[:i],
            "trial": outcome.best.number,
            "in_sample": outcome.best.values[0],
            "turnover_in_sample": outcome.best.user_attrs.get("turnover"),
            "changes": _trial_changes(search, outcome.best),
        }
        for i, outcome in zip(nested, outcomes, strict=False)
    ]
    table = np.vstack([search.params({}), *(search.params(b["changes"]) for b in blocks)])
    schedule = _schedule(evaluator, blocks)
    final = outcomes[-1]
    kept = final.kept or {}
    best = final.best
    policy, portfolio = search.configs(_trial_changes(search, best))
    say(f"all folds: trial {best.number}, {best.values[0]:.3f} in sample")
    statistics = _overfitting(search, final.trials, best, all_days, kept)
    after = _last_date(evaluator, folds[config.first_block - 1])
    signals = pl.read_parquet(folder / RUN_FILES["signals"])
    have = [b for b in baselines if b in signals.columns]
    comparison = _comparison(
        search,
        table,
        schedule,
        signals.select(TICKER, DATE, *have),
        predictions.select(TICKER, DATE, "open", "close"),
        after,
        costs,
    )
    elapsed = time.perf_counter() - started
    summary = {
        "run_dir": str(folder),
        "config": dataclasses.asdict(config),
        "objective": config.objective,
        "study": study,
        "storage": storage,
        "space": [dataclasses.asdict(p) for p in space],
        "fixed": search.fixed,
        "folds": folds,
        "reported_after": str(after),
        "blocks": blocks,
        "comparison": comparison,
        "chosen": {
            "trial": best.number,
            "in_sample": best.values[0],
            "turnover_in_sample": best.user_attrs.get("turnover"),
            "changes": _trial_changes(search, best),
        },
        "overfitting": statistics,
        "history": _history(final.trials),
        "pareto_front": _pareto(final.trials) if config.pareto else None,
        "importances": _importances(final.study(config)),
        "timing": {
            "seconds": elapsed,
            "evaluations": search.evaluations,
            "sampler_seconds": search.sampler_seconds,
            "evaluation_seconds": search.evaluation_seconds,
            "waiting_seconds": search.waiting_seconds,
            "trials_per_second": search.evaluations / elapsed if elapsed > 0 else None,
        },
    }
    tuned = dataclasses.replace(
        run_config, pipeline=dataclasses.replace(pipeline, policy=policy, portfolio=portfolio)
    )
    write_toml(out, tuned.to_dict(), comment=_header(summary))
    with atomic_dir(target, kind="tuning", option="the run's tuning folder") as tmp:
        write_json(tmp / "tuning.json", summary)
    return TuneResult(policy=policy, portfolio=portfolio, summary=summary)


@dataclass
class _StudyOutcome:
    """What one study's task hands back to the driver (plain data: it may cross processes)."""

    trials: list[Any]
    """The study's complete trials (``FrozenTrial``)."""
    best: Any
    kept: dict[int, npt.NDArray[np.float64]] | None
    timing: dict[str, float]

    def study(self, config: TuneConfig) -> Any:
        """An in-memory study holding the trials, for the summaries that read one."""
        import optuna

        directions: list[Any] = ["maximize", "minimize"] if config.pareto else ["maximize"]
        study = optuna.create_study(directions=directions)
        study.add_trials(self.trials)
        return study

    def add_timing_to(self, search: _Search) -> None:
        search.sampler_seconds += self.timing["sampler_seconds"]
        search.evaluation_seconds += self.timing["evaluation_seconds"]
        search.waiting_seconds += self.timing["waiting_seconds"]
        search.evaluations += int(self.timing["evaluations"])


def _study_task(
    search: _Search, name: str, seed: int, days: npt.NDArray[np.bool_], keep: bool
) -> _StudyOutcome:
    """Run the study ``name`` to its trial count on ``days`` and choose its trial: one task
    of an executor (`m002.evaluation.run_tasks`). ``keep``: hand back each trial's daily
    net returns too (the final study's, for the overfitting statistics)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    before, search = search, dataclasses.replace(search)  # this task's own time counters
    study = _study(search, name, seed)
    kept: dict[int, npt.NDArray[np.float64]] | None = {} if keep else None
    _optimise(search, study, days, kept)
    timing = {
        field: float(getattr(search, field) - getattr(before, field))
        for field in ("sampler_seconds", "evaluation_seconds", "waiting_seconds", "evaluations")
    }
    return _StudyOutcome(_complete(study), _choose(study, search.config), kept, timing)


def _check_writable(run_config: Any) -> None:
    """`ConfigError` before any trial where the run's config cannot be written as TOML (a
    rule turned off whose default is on), so the search never ends unwritable."""
    try:
        toml_text(run_config.to_dict())
    except ValueError as exc:
        msg = f"the run's config cannot be written to tuned.toml: {exc}"
        raise ConfigError(msg) from None


def _tuning_days(evaluator: Evaluator, folds: Sequence[int]) -> npt.NDArray[np.bool_]:
    """The dates a nested study scores: those of ``folds``, less the last one where trades
    fill at the next open (that date's return is booked up to the next date's open, a price
    of the fold being decided)."""
    days = fold_days(evaluator.fold_of_date, folds)
    if evaluator.backtest.execution == "next_open":
        days[int(np.flatnonzero(days)[-1])] = False
    return days


def _last_date(evaluator: Evaluator, fold: int) -> Any:
    index = int(np.flatnonzero(evaluator.fold_of_date == fold)[-1])
    return evaluator.dates[index]


def _overfitting(
    search: _Search,
    trials: list[Any],
    best: Any,
    days: npt.NDArray[np.bool_],
    kept: dict[int, npt.NDArray[np.float64]],
) -> dict[str, Any]:
    """DSR of the chosen trial and PBO of the final study (its complete ``trials``), on the
    same days."""
    columns = []
    for trial in trials:
        if trial.number not in kept:  # a trial of another process or an earlier run
            kept[trial.number] = search.evaluator.daily(
                search.params(_trial_changes(search, trial))
            )[0][:, 0]
        columns.append(kept[trial.number][days])
    matrix = np.column_stack(columns)
    sd = matrix.std(axis=0, ddof=1)
    flat = np.ptp(matrix, axis=0) == 0.0
    # a trial that never trades has no Sharpe ratio; it scored 0 in the search (see
    # `objective_value`) and it was one of the trials chosen from, so it counts as 0
    sharpes = np.where(flat | (sd == 0.0), 0.0, matrix.mean(axis=0) / np.where(sd > 0, sd, 1))
    dsr = deflated_sharpe_ratio(kept[best.number][days], trial_sharpes=sharpes)
    pbo: dict[str, Any] | None = None
    if len(trials) >= 2 and matrix.shape[0] >= 2 * search.config.pbo_blocks:
        pbo = probability_of_backtest_overfitting(matrix, n_blocks=search.config.pbo_blocks)
        pbo.pop("logits", None)
    return {"dsr": dsr, "pbo": pbo}


def _history(trials: list[Any]) -> list[dict[str, Any]]:
    return [
        {
            "trial": t.number,
            "value": t.values[0],
            "turnover": t.user_attrs.get("turnover"),
            "params": dict(t.params),
        }
        for t in trials
    ]


def _pareto(trials: list[Any]) -> list[dict[str, Any]]:
    """The trials no other beats on both objectives (a higher value, a lower turnover)."""
    front = [
        t
        for t in trials
        if not any(
            o.values[0] >= t.values[0]
            and o.values[1] <= t.values[1]
            and (o.values[0] > t.values[0] or o.values[1] < t.values[1])
            for o in trials
        )
    ]
    return [
        {"trial": t.number, "value": t.values[0], "turnover": t.values[1]}
        for t in sorted(front, key=lambda t: t.number)
    ]


def _importances(study: Any) -> dict[str, float] | None:
    """PED-ANOVA importances (Optuna's default) of the parameters (None with too few trials)."""
    import optuna

    if len(_complete(study)) < 4:
        return None
    # the evaluator ranks parameters by how they reach low targets: the objective is
    # maximised, so it reads its negative (and its warning that it does so is expected)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            importance = optuna.importance.get_param_importances(
                study, target=lambda t: -t.values[0]
            )
        except (ValueError, RuntimeError):  # a space with nothing varied in every trial
            return None
    return {k: float(v) for k, v in importance.items()}


def _figure(row: dict[str, Any] | None, key: str) -> str:
    value = None if row is None else row.get(key)
    return "n/a" if value is None else f"{value:.2f}"


def _header(summary: dict[str, Any]) -> str:
    """The comment block of ``tuned.toml``: what the numbers below are worth."""
    lines = [
        f"Written by `m002 tune` on {summary['run_dir']}: [policy] and [portfolio] chosen on "
        "every fold",
        f"(objective {summary['objective']}, trial {summary['chosen']['trial']}, in-sample "
        f"{summary['chosen']['in_sample']:.3f}).",
        "The in-sample figure is optimistic. Honest figures: parameters tuned on earlier folds "
        f"only, on the days after {summary['reported_after']}:",
    ]
    for cost, rows in summary["comparison"].items():
        parts = [
            f"{name} Sharpe {_figure(rows.get(name), 'sharpe')}, turnover "
            f"{_figure(rows.get(name), 'turnover')}"
            for name in ("tuned_nested", "untuned", "buy_and_hold")
            if name in rows
        ]
        lines.append(f"  {cost}: " + "; ".join(parts))
    dsr = summary["overfitting"]["dsr"]
    pbo = summary["overfitting"]["pbo"]
    lines.append(
        f"Deflated Sharpe ratio {_figure(dsr, 'dsr')} ({dsr.get('n_trials')} trials); "
        f"probability of backtest overfitting {_figure(pbo, 'pbo')}."
    )
    lines.append("Full figures: tuning/tuning.json in the run folder, and `m002 report`.")
    return "\n".join(lines)
