"""Purged walk-forward of the whole M002 pipeline, written to a run directory.

Per fold (`walk_forward_splits`):

1. the pipeline is trained by `M002FullArchitecture.train` on the prices of the fold's
   training dates only, so no fit sees the embargo, the test block or anything later (its
   labels are computed from those prices alone);
2. the ablation (the head without ``state_prob_*``) is trained on the same prices; its
   features and layer 1 are read back from the stage cache, so only its head is fitted;
3. both predict the test block from a frame that ends on the block's last date and starts
   `M002FullArchitecture.history_days` before it (enough history for every feature).

The test blocks' predictions are concatenated, joined with what the evaluation needs
(prices, event flags, realised targets: those look ahead, for scoring only) and turned into
each strategy's signals; then the backtest runs with the run's costs.

Layer 1 is scored on the test blocks against regime labels. The priority rules label the
whole history once. An HMM labeller (``[labels] method = "hmm"``) is fitted, so each fold
labels its own test block (`_test_block_labels`) with the HMM of its final layer-1 model:
fitted on that model's rows, which end before the embargo, and assigned to the fold's
history up to ``lookahead`` dates past the block (a label reads that far ahead, no further).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import polars as pl

from m002 import __version__
from m002._executors import ExecutorConfig, run_tasks
from m002._io import atomic_dir, check_replaceable, write_json
from m002._polars import collect
from m002._schema import CANONICAL_COLUMNS, DATE, TICKER
from m002.data import REGIMES_FILE
from m002.evaluation._predictive import (
    calibration_bins,
    feature_stats_by_regime,
    fold_prediction_metrics,
    regime_confusion,
    regime_reliability,
)
from m002.evaluation._run import (
    RUN_FILES,
    RunConfig,
    backtest_run,
)
from m002.evaluation._signals import (
    ABLATION_COLUMNS,
    ORACLE_STRATEGIES,
    PAST_RETURN,
    STRATEGIES,
    TRUE_REGIME,
    past_return,
    strategy_signals,
)
from m002.evaluation._splits import Fold, walk_forward_splits
from m002.exceptions import M002Error
from m002.features import add_features, longest_warmup
from m002.labels import (
    REGIME_LABEL_KNOWN,
    REGIME_STATE_ID,
    assign_regime_labels,
    compute_future_returns,
    fitted_labeller,
    future_return_from_next,
)
from m002.pipeline import (
    M002FullArchitecture,
    RegimeFits,
    StageCache,
    read_prices,
    regime_block_plan,
    regime_gap,
)
from m002.pipeline._architecture import Source
from m002.pipeline._cache import default_cache_dir
from m002.pipeline._crossfit import regime_fit_frame
from m002.policy import required_columns as policy_inputs
from m002.portfolio import TARGET_WEIGHT
from m002.regime import DEFAULT_SEQUENCE_FEATURES

__all__ = ["EVENT_FLAGS", "run_walkforward"]

EVENT_FLAGS: Final = (
    "event_local_vol_spike",
    "event_volume_regain",
    "event_rebound_candidate",
    "event_breakdown_risk",
    "I_bd_early",
    "I_bd_late",
    "I_vr_and_vs",
)
_TARGETS: Final = ("label_rebound_bin", "future_ret_pct", "future_dd_pct")


def _say(verbose: bool, message: str) -> None:
    if verbose:
        print(f"[m002 walkforward] {message}", flush=True)


@contextmanager
def _cache_dir(cache_dir: str | Path | None, use_cache: bool) -> Iterator[str | Path | None]:
    """The stage cache to use; with ``use_cache=False`` a temporary one for this run only,
    so the ablation still reuses each fold's features and layer 1."""
    if use_cache:
        yield cache_dir
        return
    with tempfile.TemporaryDirectory(prefix="m002-walkforward-") as tmp:
        yield tmp


def _context(prices: pl.DataFrame, config: RunConfig) -> pl.DataFrame:
    """Per (ticker, date): what scoring, the baselines and the report need besides the
    predictions. Features are causal; the labels and targets look ahead (scoring only).
    Regime labels only from the priority rules: a fitted labeller's come with each fold's
    predictions (`_test_block_labels`)."""
    cfg = config.pipeline
    features = add_features(prices, "m002", assume_sorted=True, max_gap_days=cfg.max_gap_days)
    labels: list[str] = []
    if cfg.labels.method == "priority":
        features = assign_regime_labels(features, cfg.labels)
        labels = [REGIME_STATE_ID, REGIME_LABEL_KNOWN]
    labelled = compute_future_returns(features, cfg.targets)
    columns = dict.fromkeys(
        [
            *CANONICAL_COLUMNS,
            *EVENT_FLAGS,
            *labels,
            *_TARGETS,
            *_stat_features(),
            "atr_smooth",  # a policy input: m002_spec re-applies the spec's own policy
        ]
    )
    return collect(
        labelled.select(
            *columns,
            past_return(window=5).alias(PAST_RETURN),
            future_return_from_next(cfg.targets.horizon),
        )
    )


def _true_regimes(source: Source) -> pl.DataFrame | None:
    """The synthetic generator's ground truth beside a synthetic source folder, else None."""
    if not isinstance(source, str | Path):
        return None
    path = Path(source) / REGIMES_FILE
    if not path.is_file():
        return None
    return pl.read_parquet(path, columns=[TICKER, DATE, "regime"]).rename({"regime": TRUE_REGIME})


def _stat_features() -> list[str]:
    """Features whose distribution by regime the report shows: the head's m002 inputs."""
    return [c for c in DEFAULT_SEQUENCE_FEATURES if c not in CANONICAL_COLUMNS + EVENT_FLAGS]


def _regime_fit_end(calendar: pl.Series, fold: Fold, config: RunConfig) -> date | None:
    """The last date layer 1's final model of ``fold`` fits on: the purge a cross-fit block
    starting on the fold's first test date has, so that this model is the next fold's model
    of that block (fitted once). None where the fold's dates do not reach that far back."""
    cfg = config.pipeline
    position = fold.test_start_pos - 1 - regime_gap(cfg.regime, cfg.labels)
    return calendar[position] if position >= fold.train_start_pos else None


def _test_block_labels(
    prices: pl.DataFrame, fold: Fold, config: RunConfig, regime_fit_end: date | None
) -> pl.DataFrame:
    """A fitted labeller's regime labels of ``fold``'s test block, to score layer 1 on.

    The labeller is the one the fold's final layer-1 model trained on: fitted on that model's
    rows, the fold's training dates up to ``regime_fit_end`` (all of them where None), with
    the features the fold's training computed (from its first training date on; causal, so
    the same whatever comes later). It labels the fold's rows from that first date to
    ``lookahead`` trading dates past the block, which gives the block's labels the history of
    the whole fold before them and their own ``lookahead`` rows after, no more; no fit saw
    any test price.

    Returns
    -------
    pl.DataFrame
        ``ticker``, ``date``, ``regime_state_id`` and ``regime_label_known`` of the block.
    """
    cfg = config.pipeline
    ahead = prices.filter(pl.col(DATE) > fold.test_end)[DATE].unique().sort()
    ahead = ahead.head(cfg.labels.lookahead)
    labels_end = ahead[-1] if ahead.len() else fold.test_end
    features = collect(
        add_features(
            prices.filter(pl.col(DATE).is_between(fold.train_start, labels_end)),
            "m002",
            assume_sorted=True,
            max_gap_days=cfg.max_gap_days,
        )
    )
    fit_end = fold.train_end if regime_fit_end is None else regime_fit_end
    labeller = fitted_labeller(cfg.labels).fit(features.filter(pl.col(DATE) <= fit_end))
    in_block = pl.col(DATE).is_between(fold.test_start, fold.test_end)
    return collect(
        labeller.assign(features)
        .filter(in_block)
        .select(TICKER, DATE, REGIME_STATE_ID, REGIME_LABEL_KNOWN)
    )


def _fold_predictions(
    prices: pl.DataFrame,
    fold: Fold,
    config: RunConfig,
    cache_dir: str | Path | None,
    verbose: bool,
    regime_fit_end: date | None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    started = time.perf_counter()
    fit_prices = prices.filter(pl.col(DATE).is_between(fold.train_start, fold.train_end))
    model = M002FullArchitecture(config.pipeline, cache_dir=cache_dir, verbose=verbose)
    model.train(fit_prices, regime_fit_end=regime_fit_end)
    ablation_config = dataclasses.replace(
        config.pipeline, head=dataclasses.replace(config.pipeline.head, use_state_probs=False)
    )
    ablation = M002FullArchitecture(ablation_config, cache_dir=cache_dir, verbose=verbose)
    ablation.train(fit_prices, regime_fit_end=regime_fit_end)
    trained_s = time.perf_counter() - started

    history_start = fold.test_start - timedelta(days=model.history_days())
    window = prices.filter(pl.col(DATE).is_between(history_start, fold.test_end))
    in_block = pl.col(DATE).is_between(fold.test_start, fold.test_end)
    predicted = model.predict(window).filter(in_block)
    ablated = (
        ablation.predict(window)
        .filter(in_block)
        .select(TICKER, DATE, *(pl.col(c).alias(a) for c, a in ABLATION_COLUMNS.items()))
    )
    out = predicted.join(ablated, on=[TICKER, DATE], how="left").with_columns(
        pl.lit(fold.index, dtype=pl.Int32).alias("fold")
    )
    if config.pipeline.labels.method != "priority":
        labels = _test_block_labels(prices, fold, config, regime_fit_end)
        out = out.join(labels, on=[TICKER, DATE], how="left")
    state = model.trained_state
    info = {
        **fold.as_dict(),
        "n_train_rows": fit_prices.height,
        "n_test_rows": out.height,
        "train": {
            "regime_validation": state["regime"]["validation"],
            "regime_crossfit": {
                k: v for k, v in state["regime"]["crossfit"].items() if k != "folds"
            },
            "head_held_out": _head_summary(state["head"]["held_out"]),
            "ablation_head_held_out": _head_summary(ablation.trained_state["head"]["held_out"]),
            "cache": state["cache"],
        },
        "timings": {
            "train_s": round(trained_s, 2),
            "predict_s": round(time.perf_counter() - started - trained_s, 2),
            "stages_s": state["timings"],
            "ablation_stages_s": ablation.trained_state["timings"],
        },
    }
    return out, info


def _fold_text(fold: Fold) -> str:
    return (
        f"train {fold.train_start} to {fold.train_end}, test {fold.test_start} to {fold.test_end}"
    )


def _fold_task(
    prices: pl.DataFrame,
    fold: Fold,
    n_folds: int,
    config: RunConfig,
    cache_dir: str | Path | None,
    verbose: bool,
    regime_fit_end: date | None,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """One fold, as an executor runs it: its errors name the fold."""
    name = f"fold {fold.index + 1}/{n_folds}"
    _say(verbose, f"{name}: {_fold_text(fold)}")
    try:
        return _fold_predictions(prices, fold, config, cache_dir, verbose, regime_fit_end)
    except M002Error as exc:
        msg = (
            f"walk-forward {name} (train {fold.train_start} to {fold.train_end}, "
            f"{fold.n_train_dates} dates): {exc}; give the first fold more history "
            "(`min_train_dates`, `first_test_date`)"
        )
        # same type, so a caller catching ConfigError or SchemaError still does
        exc.args = (msg, *exc.args[1:])
        raise


def _fit_regime_models(
    prices: pl.DataFrame,
    calendar: pl.Series,
    folds: list[Fold],
    config: RunConfig,
    cache_dir: str | Path | None,
    executor: ExecutorConfig,
    verbose: bool,
) -> int:
    """Fit, before the folds, every layer-1 model the folds will ask for, from the m002
    features and regime labels of the whole history computed once (for a fitted labeller,
    its inputs: each model labels its own rows, `RegimeFits`); returns how many.

    A block's model fits on the rows up to its fit end, and those rows' features and labels
    are the same in the whole history as in any fold that holds them (features are causal; a
    label needs ``lookahead`` dates, which the purge holds): the folds then read every model
    back from the stage cache, by content, and run independently of each other. Without a
    warm start the models are independent tasks; with one they form a chain, fitted in order.
    With a rolling window a fold's first features see less history than the whole's, so
    nothing is fitted here and each fold fits its own.
    """
    cfg = config.pipeline
    if config.walkforward.window != "expanding":
        return 0
    warm = cfg.crossfit.warm_start_epochs > 0
    gap = regime_gap(cfg.regime, cfg.labels)
    starts: dict[date, date | None] = {}  # each model's fit end -> its warm start's
    for fold in folds:
        plan = regime_block_plan(
            calendar[fold.train_start_pos : fold.train_stop_pos],
            cfg.regime,
            cfg.labels,
            cfg.crossfit,
        )
        if not plan:
            continue  # the fold cannot cross-fit: it says so itself, naming the fold
        previous = None
        final = _regime_fit_end(calendar, fold, config)
        for fit_end in [*(block["fit_end"] for block in plan), final]:
            if fit_end is not None:
                starts.setdefault(fit_end, previous if warm else None)
                previous = fit_end
    if not starts:
        return 0
    last = calendar.search_sorted(max(starts))
    features = add_features(
        prices.filter(pl.col(DATE) <= calendar[min(last + gap, calendar.len() - 1)]),
        "m002",
        assume_sorted=True,
        max_gap_days=cfg.max_gap_days,
    )
    fits = RegimeFits(
        StageCache(cache_dir or default_cache_dir()),
        collect(regime_fit_frame(features, cfg.labels)),
        cfg.regime,
        cfg.labels,
        cfg.crossfit,
        max_gap_days=cfg.max_gap_days,
        verbose=False,
    )
    fits.fit_models(sorted(starts.items()), executor, say=lambda line: _say(verbose, line))
    return fits.fitted


def _head_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    ic = metrics.get("ic", {})
    return {
        "ap": metrics.get("average_precision"),
        "base_rate": metrics.get("base_rate"),
        "rank_ic_mean": ic.get("rank_ic_mean"),
    }


def run_walkforward(
    source: Source,
    run_dir: str | Path,
    config: RunConfig | None = None,
    *,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    verbose: bool = True,
    executor: ExecutorConfig | None = None,
) -> dict[str, Any]:
    """Walk the pipeline forward over ``source`` and write the run to ``run_dir``.

    Parameters
    ----------
    source : path or frame
        Canonical prices (a path is validated by the data layer).
    run_dir : str or Path
        New or empty folder, or an earlier run's: the run is written beside it and renamed
        into place when complete, so an interrupted run leaves the earlier one whole.
    config : RunConfig, optional
        The pipeline's config, the walk-forward schedule and the backtest's costs.
    cache_dir, use_cache
        The stage cache (`M002FullArchitecture`). A re-run with the same data and config
        reads every fold back from it; with ``use_cache=False`` a temporary cache serves this
        run only.
    verbose : bool
        Progress per fold (and the pipeline's own progress, with the local executor).
    executor : ExecutorConfig, optional
        Where the layer-1 models and the folds run (`ExecutorConfig`: ``local`` by default,
        ``processes`` or ``ray``). The outputs are the same files wherever they ran. With
        worker processes or a Ray cluster, the stage cache must be a folder every worker
        reads and writes (a shared file system on a cluster), or each worker fits the
        layer-1 models its folds need again.

    Returns
    -------
    dict
        The content of ``run.json``, with the backtest's metrics under ``"backtest"``.
    """
    cfg = config or RunConfig()
    executor = executor or ExecutorConfig()
    folder = Path(run_dir)
    check_replaceable(folder, kind="run", option="`run_dir`")
    started = time.perf_counter()
    warmup = longest_warmup(cfg.pipeline.feature_set)
    prices = read_prices(source, validate=cfg.pipeline.validate, min_rows=warmup + 1)
    calendar = prices[DATE].unique().sort()
    folds = walk_forward_splits(calendar, cfg.walkforward, min_embargo=cfg.pipeline.label_reach + 1)
    _say(
        verbose,
        f"{len(folds)} folds, test {folds[0].test_start} to {folds[-1].test_end}, "
        f"{cfg.walkforward.window} training window, embargo "
        f"{folds[0].test_start_pos - folds[0].train_stop_pos} dates",
    )
    layer1: dict[str, Any] = {}
    with _cache_dir(cache_dir, use_cache) as cache:
        started_layer1 = time.perf_counter()
        layer1["fitted_before_folds"] = _fit_regime_models(
            prices, calendar, folds, cfg, cache, executor, verbose
        )
        layer1["seconds_before_folds"] = round(time.perf_counter() - started_layer1, 2)
        in_driver = executor.kind == "local"
        tasks = [
            (f, len(folds), cfg, cache, verbose and in_driver, _regime_fit_end(calendar, f, cfg))
            for f in folds
        ]

        def done(index: int, result: tuple[pl.DataFrame, dict[str, Any]]) -> None:
            timings = result[1]["timings"]
            seconds = timings["train_s"] + timings["predict_s"]
            _say(verbose, f"fold {index + 1}/{len(folds)} done in {seconds:.1f} s")

        if not in_driver:
            _say(verbose, f"{len(folds)} folds, {executor.describe(len(folds))}")
        # with an expanding window a later fold trains on more rows: the longest start first
        results = run_tasks(_fold_task, prices, tasks, executor, on_done=done, start_from_last=True)
    parts = [part for part, _ in results]
    infos = [info for _, info in results]
    layer1["fitted_in_folds"] = sum(i["train"]["cache"]["regime_models_fitted"] for i in infos)
    layer1["read_back_in_folds"] = sum(
        i["train"]["cache"]["regime_models_read_back"] for i in infos
    )

    context = _context(prices, cfg)
    predictions = pl.concat(parts).join(context, on=[TICKER, DATE], how="left").sort(TICKER, DATE)
    truth = _true_regimes(source)
    if truth is not None:
        predictions = predictions.join(truth, on=[TICKER, DATE], how="left")
    signals = strategy_signals(predictions, cfg.pipeline.portfolio)
    # the book run once over every test block in date order, as it would be traded (each
    # fold's own predict starts its book from the fold's training dates)
    predictions = predictions.drop(TARGET_WEIGHT).join(
        signals.select(TICKER, DATE, pl.col("m002").alias(TARGET_WEIGHT)), on=[TICKER, DATE]
    )
    strategies = {**STRATEGIES, **(ORACLE_STRATEGIES if truth is not None else {})}
    extra = _stat_features()
    evaluation = {
        **fold_prediction_metrics(predictions),
        "confusion_matrix": regime_confusion(predictions),
        "calibration": calibration_bins(predictions),
        "regime_reliability": regime_reliability(predictions),
        "feature_by_regime": feature_stats_by_regime(predictions, extra),
    }
    run: dict[str, Any] = {
        "m002_version": __version__,
        "created": datetime.now().isoformat(timespec="seconds"),
        "source": str(source) if isinstance(source, str | Path) else "<frame>",
        "config": cfg.to_dict(),
        "folds": infos,
        "strategies": strategies,
        "executor": dataclasses.asdict(executor),
        "layer1_models": layer1,
        "timings": {"total_s": round(time.perf_counter() - started, 2)},
    }
    # the whole run appears at once, replacing an earlier run only when it is complete
    with atomic_dir(folder, kind="run", option="`run_dir`") as tmp:
        # the policy's inputs stay, so that any policy and portfolio can be re-applied to the
        # run's predictions without re-training (bench_portfolio, tuning)
        kept = set(policy_inputs())
        predictions.drop(c for c in extra if c not in kept).write_parquet(
            tmp / RUN_FILES["predictions"]
        )
        signals.write_parquet(tmp / RUN_FILES["signals"])
        write_json(tmp / RUN_FILES["evaluation"], evaluation)
        write_json(tmp / RUN_FILES["run"], run)
        _, metrics = backtest_run(tmp, cfg.backtest)
        run["timings"]["total_s"] = round(time.perf_counter() - started, 2)
        write_json(tmp / RUN_FILES["run"], run)
    _say(verbose, f"done in {run['timings']['total_s']:.1f} s: {folder}")
    return {**run, "evaluation": evaluation, "backtest": metrics}
