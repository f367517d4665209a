"""Time-ordered cross-fitting of layer 1 for layer-2 training (DESIGN rule 4), on calendar
blocks whose models are fitted once.

The calendar is cut into blocks (``block``: ``"1y"`` calendar years, ``"6m"`` half-years from
January, ``"126d"`` runs of trading dates from the data's first date). Block b gets its
``state_prob_*`` from a regime model fitted on the labelled rows dated at least ``gap =
seq_len + lookahead`` dates before the block's first date, so that neither a training label's
hindsight nor a predicted window reaches the other side. A block whose model would see fewer
than ``min_fit_dates`` dates is not predicted: its rows only train.

A model depends only on the rows it is fitted on, and those rows are the same whatever data
comes after them (features are causal; a label needs ``lookahead`` dates, which the gap
holds). `RegimeFits` keys each model by the content of its rows, the config and the code, in
the stage cache: the next fold of a walk-forward, whose data holds the same earlier blocks,
reads their models and probabilities back instead of fitting them again. The final model is
one more such fit, on the rows up to ``final_fit_end``; the walk-forward sets it to ``gap``
dates before its test block, which makes one fold's final model the next fold's model of its
last block.

Labels: with ``[labels] method = "priority"`` the frame holds the labels (the rules need no
fit and label every row alike). With ``"hmm"`` it holds the HMM's two inputs instead, and each
model's rows are labelled by an HMM fitted on exactly those rows (`m002.labels.label_fit_rows`)
just before the model fits on them: no model trains on states that rows after its fit end
helped to shape. Its key hashes the features and the HMM's inputs, with the label config, so
a cache hit still means the same rows, hence the same labeller and labels.

With ``warm_start_epochs`` > 0 each model after the first starts from the weights of the
model before it (the previous block's) and trains for at most that many epochs.

`RegimeFits.fit_models` fits a list of models before they are read: through an executor
(`m002._executors`: in worker processes or on Ray), each worker writing its models to the
stage cache, from which `RegimeFits.model` then reads them back. Independent models run side
by side; warm-started ones form one chain, fitted in order.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl

from m002._dates import parse_period
from m002._executors import ExecutorConfig, run_tasks
from m002._polars import collect
from m002._schema import DATE, MAX_GAP_DAYS, TICKER
from m002.exceptions import M002Error, SchemaError
from m002.labels import (
    REGIME_LABEL_KNOWN,
    REGIME_LABEL_LOOKAHEAD,
    REGIME_STATE_ID,
    RegimeLabelConfig,
    assign_regime_labels,
    label_fit_rows,
    label_inputs,
)
from m002.pipeline._cache import StageCache, StageKey, config_fingerprint, frame_fingerprint
from m002.pipeline._config import CrossFitConfig, RegimeParams
from m002.regime import DEFAULT_SEQUENCE_FEATURES, RegimeClassifier, longest_usable_run

__all__ = [
    "CROSSFIT_FOLD",
    "FitStep",
    "RegimeFits",
    "block_plan",
    "regime_block_plan",
    "regime_gap",
]

CROSSFIT_FOLD = "crossfit_fold"
"""Output column: the block whose model predicted the row."""

MODEL_COLUMNS: Final = (
    TICKER,
    DATE,
    *DEFAULT_SEQUENCE_FEATURES,
    REGIME_STATE_ID,
    REGIME_LABEL_KNOWN,
    REGIME_LABEL_LOOKAHEAD,
)
"""What a regime model is fitted on: its key hashes exactly these columns."""

FitStep = tuple[date | None, date | None]
"""A layer-1 model to fit: its fit end (None: every row), and the fit end of the model it is
warm-started from (None: from random weights)."""


def regime_fit_columns(labels: RegimeLabelConfig) -> tuple[str, ...]:
    """The columns `RegimeFits` keeps of its frame, which each model's key hashes.

    ``"priority"``: `MODEL_COLUMNS` (the sequence features and the labels). A fitted labeller
    (``"hmm"``): the sequence features and the labeller's inputs (`m002.labels.label_inputs`),
    no labels: each model labels its own fit rows.
    """
    if labels.method == "priority":
        return MODEL_COLUMNS
    return tuple(dict.fromkeys((TICKER, DATE, *DEFAULT_SEQUENCE_FEATURES, *label_inputs(labels))))


def regime_fit_frame(
    features: pl.DataFrame | pl.LazyFrame, labels: RegimeLabelConfig
) -> pl.LazyFrame:
    """What `RegimeFits` needs of a frame of m002 features: ``"priority"`` labels them
    (`m002.labels.assign_regime_labels`); ``"hmm"`` keeps them unlabelled, for a labeller fitted
    per model. Either way only `regime_fit_columns` are kept."""
    lazy = features.lazy()
    if labels.method == "priority":
        lazy = assign_regime_labels(lazy, labels)
    return lazy.select(regime_fit_columns(labels))


def block_plan(
    calendar: pl.Series, *, block: str, gap: int, history: int, min_fit_dates: int
) -> list[dict[str, Any]]:
    """Date bounds of each predicted block: what its model fits on and what it predicts.

    Parameters
    ----------
    calendar : pl.Series
        Sorted unique dates.
    block : str
        Block length: ``"<n>y"``, ``"<n>m"`` (calendar periods from January) or ``"<n>d"``
        (trading dates from the calendar's first).
    gap : int
        Dates left out between the last fitted date and the first predicted one.
    history : int
        Dates before a block read as window history when predicting it (inputs only).
    min_fit_dates : int
        A block is predicted only when at least this many dates lie before its fit end.

    Returns
    -------
    list of dict
        One per predicted block, in date order: ``fold`` (the block's number, counted from
        the calendar's first block), ``fit_end``, ``predict_start``, ``predict_end``,
        ``history_start`` (dates).
    """
    n, unit = parse_period(block, "block")
    if unit == "d":
        period = np.arange(calendar.len()) // n
    else:
        months = n * 12 if unit == "y" else n
        month_index = calendar.dt.year().to_numpy() * 12 + calendar.dt.month().to_numpy() - 1
        period = month_index // months
    starts = [0, *(np.flatnonzero(np.diff(period)) + 1).tolist()]
    ends = [*(s - 1 for s in starts[1:]), calendar.len() - 1]
    plan = []
    for number, (start, end) in enumerate(zip(starts, ends, strict=True)):
        fit_end = start - 1 - gap
        if fit_end + 1 < max(min_fit_dates, 1):
            continue
        plan.append(
            {
                "fold": number,
                "fit_end": calendar[fit_end],
                "predict_start": calendar[start],
                "predict_end": calendar[end],
                "history_start": calendar[max(0, start - history)],
            }
        )
    return plan


def regime_gap(params: RegimeParams, labels: RegimeLabelConfig) -> int:
    """Dates between a layer-1 model's last fitted row and the first row it predicts: one
    window (``seq_len``) and a label's hindsight (``lookahead``)."""
    return params.seq_len + labels.lookahead


def regime_block_plan(
    calendar: pl.Series,
    params: RegimeParams,
    labels: RegimeLabelConfig,
    crossfit: CrossFitConfig,
) -> list[dict[str, Any]]:
    """`block_plan` of layer 1's cross-fitting over ``calendar``: ``crossfit``'s blocks and
    least fit length, the `regime_gap`, and two windows of history before each block."""
    return block_plan(
        calendar,
        block=crossfit.block,
        gap=regime_gap(params, labels),
        history=2 * params.seq_len,
        min_fit_dates=crossfit.min_fit_dates,
    )


@dataclass
class RegimeFits:
    """Layer-1 models of one frame, each fitted once and kept in the stage cache.

    Parameters
    ----------
    cache : StageCache
    frame : pl.DataFrame
        m002 features with what the labels need (`regime_fit_frame`): the priority labels,
        or the HMM's inputs (labels in it are then ignored: each model's fit rows are
        labelled by an HMM fitted on them). Only `regime_fit_columns` are kept.
    params, labels, max_gap_days
        The regime model's and the labels' config.
    crossfit : CrossFitConfig
        Blocks, the least fit length and the warm start.
    verbose : bool

    Attributes
    ----------
    fitted, read_back : int
        Models this object fitted, and models it read back from the cache.
    """

    cache: StageCache
    frame: pl.DataFrame
    params: RegimeParams
    labels: RegimeLabelConfig
    crossfit: CrossFitConfig
    max_gap_days: int = MAX_GAP_DAYS
    verbose: bool = True
    fitted: int = 0
    read_back: int = 0

    def __post_init__(self) -> None:
        self.frame = self.frame.select(regime_fit_columns(self.labels))

    @property
    def gap(self) -> int:
        """Dates between a model's last fitted row and the first row it predicts."""
        return regime_gap(self.params, self.labels)

    def model(
        self, fit_end: date | None, init: tuple[RegimeClassifier, StageKey] | None = None
    ) -> tuple[RegimeClassifier, StageKey]:
        """The model fitted on the labelled rows dated up to ``fit_end`` (None: every row),
        warm-started from ``init`` (a model and its key) when given. With ``"hmm"`` labels
        those rows are labelled by an HMM fitted on them alone (`fit_rows`)."""
        rows, key = self._rows_and_key(fit_end, None if init is None else init[1])

        def fit(folder: Path) -> None:
            params = dataclasses.asdict(self.params)
            if init is not None:
                params["max_epochs"] = self.crossfit.warm_start_epochs
            model = RegimeClassifier(
                **params,
                max_gap_days=self.max_gap_days,
                label_config=self.labels,
                verbose=self.verbose,
            ).fit(self.fit_rows(rows), init=None if init is None else init[0])
            model.save(folder / "model")

        folder, hit = self.cache.get_or_build_dir(key, fit)
        if hit:
            self.read_back += 1
        else:
            self.fitted += 1
        return RegimeClassifier.load(folder / "model"), key

    def _rows_and_key(
        self, fit_end: date | None, init: StageKey | None
    ) -> tuple[pl.DataFrame, StageKey]:
        """The rows of the model fitted up to ``fit_end``, and its key in the stage cache
        (``init``: the key of the model it starts from)."""
        rows = self.frame if fit_end is None else self.frame.filter(pl.col(DATE) <= fit_end)
        section: dict[str, Any] = {
            "regime": self.params,
            "labels": self.labels,
            "max_gap_days": self.max_gap_days,
        }
        if init is not None:
            section["warm_start_epochs"] = self.crossfit.warm_start_epochs
        key = StageKey(
            stage="regime_model",
            input_hash=frame_fingerprint(rows),
            config_hash=config_fingerprint(section),
            upstream=None if init is None else init.digest,
        )
        return rows, key

    def fit_models(
        self,
        steps: Sequence[FitStep],
        executor: ExecutorConfig,
        say: Callable[[str], None] | None = None,
    ) -> None:
        """Fit (or read back) the models of ``steps`` into the stage cache, by ``executor``:
        each model on its own without a warm start, the longest first; with one, every step in
        one chain, in the order given (a warm start before the model it starts). Adds to
        `fitted` and `read_back`; ``say`` receives a progress line as each task ends.

        With the cache disabled the models are fitted but not kept: `crossfit_and_final`
        then gives the workers a temporary cache to hand them back through.
        """
        warm = self.crossfit.warm_start_epochs > 0
        missing = self._not_cached(steps)
        if not missing:  # nothing to fit: no worker to start
            self.read_back += len(steps)
            if say is not None:
                say(f"layer 1: {len(steps)} models, all read back from the cache")
            return
        # a chain fits in order from its start, reading back what is cached
        chains = [list(steps)] if warm else [[step] for step in missing]
        self.read_back += 0 if warm else len(steps) - len(missing)
        where = executor.describe(len(chains))
        if say is not None and warm:
            say(f"layer 1: {len(steps)} models in one chain of warm starts, {where}")
        elif say is not None:
            cached = len(steps) - len(missing)
            also = f" ({cached} read back from the cache)" if cached else ""
            say(f"layer 1: {len(missing)} of {len(steps)} models to fit{also}, {where}")
        items = [
            (chain, self.params, self.labels, self.crossfit, self.max_gap_days, self.cache)
            for chain in chains
        ]
        started = time.perf_counter()
        finished = 0

        def done(index: int, counts: tuple[int, int]) -> None:
            nonlocal finished
            finished += 1
            if say is not None:
                last = chains[index][-1][0]
                how = f"{counts[0]} fitted" if counts[0] else "read back"
                say(
                    f"layer 1: {finished}/{len(chains)} done (dates up to "
                    f"{'the last' if last is None else last}, {how}) at "
                    f"{time.perf_counter() - started:.0f} s"
                )

        # a later fit end fits on more rows: the longest start first (one chain: no choice)
        results = run_tasks(
            _fit_regime_chain, self.frame, items, executor, on_done=done, start_from_last=True
        )
        self.fitted += sum(fitted for fitted, _ in results)
        self.read_back += sum(read for _, read in results)

    def _not_cached(self, steps: Sequence[FitStep]) -> list[FitStep]:
        """The steps whose model is not in the stage cache (keys only: nothing is read)."""
        keys: dict[date | None, StageKey] = {}
        missing = []
        for fit_end, start in steps:
            _, keys[fit_end] = self._rows_and_key(fit_end, None if start is None else keys[start])
            if self.cache.get_dir(keys[fit_end]) is None:
                missing.append((fit_end, start))
        return missing

    def fit_rows(self, rows: pl.DataFrame) -> pl.DataFrame:
        """``rows`` (of the frame, up to a model's fit end) labelled for that model: as held
        (priority), or by a labeller fitted on exactly these rows (`label_fit_rows`)."""
        if self.labels.method == "priority":
            return rows
        return collect(label_fit_rows(rows, self.labels))

    def probabilities(
        self, model: RegimeClassifier, key: StageKey, plan: dict[str, Any]
    ) -> pl.DataFrame:
        """``state_prob_*`` of the block ``plan`` from ``model`` (whose key is ``key``),
        cached under the content of the rows its windows read."""
        window = self.frame.filter(
            pl.col(DATE).is_between(plan["history_start"], plan["predict_end"])
        ).select(TICKER, DATE, *model.feature_names_)
        start = plan["predict_start"]
        probability_key = StageKey(
            stage="regime_block_probabilities",
            input_hash=frame_fingerprint(window),
            config_hash=config_fingerprint({"predict_start": str(start)}),
            upstream=key.digest,
        )
        frame, _ = self.cache.get_or_compute(
            probability_key,
            lambda: model.predict_probabilities(window).filter(pl.col(DATE) >= start),
        )
        return frame.with_columns(pl.lit(plan["fold"], dtype=pl.Int32).alias(CROSSFIT_FOLD))

    def crossfit_and_final(
        self,
        final_fit_end: date | None = None,
        executor: ExecutorConfig | None = None,
        say: Callable[[str], None] | None = None,
    ) -> tuple[pl.DataFrame, list[dict[str, Any]], RegimeClassifier]:
        """Out-of-sample ``state_prob_*`` of every predicted block, per block its bounds and
        its model's validation metrics, and the final model (fitted on the rows up to
        ``final_fit_end``, or every row).

        ``executor``: where the models are fitted (`fit_models`; default: here, one after
        another). The models, hence everything returned, are the same wherever they ran.

        Raises
        ------
        SchemaError
            If no block can be predicted (too little history for ``min_fit_dates``).
        """
        calendar = self.frame[DATE].unique().sort()
        plan = regime_block_plan(calendar, self.params, self.labels, self.crossfit)
        if not plan:
            longest = longest_usable_run(
                self.frame, DEFAULT_SEQUENCE_FEATURES, max_gap_days=self.max_gap_days
            )
            msg = (
                f"too little history to cross-fit layer 1: {calendar.len()} dates hold no "
                f"block of `block={self.crossfit.block!r}` with `min_fit_dates="
                f"{self.crossfit.min_fit_dates}` dates before it, less `seq_len="
                f"{self.params.seq_len}` + lookahead = {self.gap} dates; the longest usable run "
                f"of one ticker's rows is {longest}; lower "
                "`min_fit_dates`, shorten `block` or `seq_len`, or give more history"
            )
            raise SchemaError(msg)
        warm = self.crossfit.warm_start_epochs > 0
        fit_ends: list[date | None] = [block["fit_end"] for block in plan]
        steps = [(end, fit_ends[i - 1] if warm and i else None) for i, end in enumerate(fit_ends)]
        steps.append((final_fit_end, fit_ends[-1] if warm else None))
        if executor is None or executor.runs_here(1 if warm else len(steps)):
            return self._crossfit(plan, final_fit_end)
        with tempfile.TemporaryDirectory(prefix="m002-regime-") as tmp:
            # the workers hand their models back through the stage cache: with the cache
            # off, through a temporary one that this process then reads them from
            fits = self
            if not self.cache.enabled:
                fits = dataclasses.replace(self, cache=StageCache(tmp, auto_prune=False))
            fits.fit_models(steps, executor, say)
            counted = fits.fitted, fits.read_back
            result = fits._crossfit(plan, final_fit_end)
        # every model was counted where it was fitted or found: not again when read here
        self.fitted, self.read_back = counted
        return result

    def _crossfit(
        self, plan: list[dict[str, Any]], final_fit_end: date | None
    ) -> tuple[pl.DataFrame, list[dict[str, Any]], RegimeClassifier]:
        warm = self.crossfit.warm_start_epochs > 0
        parts: list[pl.DataFrame] = []
        folds: list[dict[str, Any]] = []
        previous: tuple[RegimeClassifier, StageKey] | None = None
        for block in plan:
            model, key = self.model(block["fit_end"], previous if warm else None)
            previous = model, key
            parts.append(self.probabilities(model, key, block))
            folds.append(
                {
                    **{k: str(v) for k, v in block.items()},
                    "regime_valid_macro_f1": model.metrics_["macro_f1"],
                    "regime_valid_all_rows_macro_f1": model.metrics_["all_rows"]["macro_f1"],
                    "epochs": len(model.history_),
                    "warm_start": warm and len(folds) > 0,
                }
            )
        final, _ = self.model(final_fit_end, previous if warm else None)
        return pl.concat(parts), folds, final


def _fit_regime_chain(
    frame: pl.DataFrame,
    chain: list[FitStep],
    params: RegimeParams,
    labels: RegimeLabelConfig,
    crossfit: CrossFitConfig,
    max_gap_days: int,
    cache: StageCache,
) -> tuple[int, int]:
    """A task of `RegimeFits.fit_models`: fit (or read back) the model of each step of
    ``chain`` on ``frame``, in order, each warm-started from the model of its step's second
    date; how many were fitted and read back."""
    fits = RegimeFits(
        cache, frame, params, labels, crossfit, max_gap_days=max_gap_days, verbose=False
    )
    models: dict[date | None, tuple[RegimeClassifier, StageKey]] = {}
    for fit_end, start in chain:
        try:
            models[fit_end] = fits.model(fit_end, None if start is None else models[start])
        except M002Error as exc:
            end = "every date" if fit_end is None else f"the dates up to {fit_end}"
            exc.args = (f"layer 1's model of {end}: {exc}", *exc.args[1:])  # same type
            raise
    return fits.fitted, fits.read_back
