"""`RegimeClassifier`: layer 1 with the estimator contract (fit / predict_probabilities).

What the probabilities mean: ``state_prob_<state>`` is the probability that the row's hindsight
will confirm that state, at the frequencies the states really have; the five sum to at most 1
and what they leave is the probability of no state (the outcome of most rows). The LSTM learns
six outcomes, the five states and "no state", on balanced batches with label smoothing; its
output is then un-smoothed, taken back from the balanced prior to the training frequencies and
given a temperature fitted on the out-of-time validation block (`OutcomeCalibration`). A
threshold such as the policy's ``state_prob_Peak >= 0.5`` therefore fires where a peak is at
least as likely as not.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import io
import math
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl
import torch
from rich.progress import BarColumn, Progress, TextColumn
from sklearn.base import BaseEstimator
from torch import nn

from m002 import __version__
from m002._checks import check_choice, check_int
from m002._io import atomic_file, read_json, write_json
from m002._schema import DATE, require_columns
from m002.exceptions import ConfigError, NotFittedError, SchemaError
from m002.features import FEATURE_SETS
from m002.labels import (
    REGIME_LABEL_LOOKAHEAD,
    REGIME_STATE_ID,
    RegimeLabelConfig,
    assign_regime_labels,
)
from m002.labels._regime import REGIME_LABEL_KNOWN
from m002.regime._calibration import OutcomeCalibration
from m002.regime._curriculum import CURRICULA, AllWindows
from m002.regime._losses import LOSSES, build_loss, weighted_mean_loss
from m002.regime._metrics import classification_metrics, outcome_metrics, reliability_table
from m002.regime._model import SequenceNetwork
from m002.regime._networks import SEQUENCE_MODELS, build_network
from m002.regime._outcomes import (
    CLASS_NAMES,
    NO_STATE_ID,
    OUTCOME_NAMES,
    regime_outcome,
    state_prob_columns,
)
from m002.regime._pseudo_labels import pseudo_labels
from m002.regime._sampling import SAMPLERS, require_imblearn
from m002.regime._schedules import LR_SCHEDULES, lr_factor
from m002.regime._sequences import SequenceSet, build_sequences, window_indices

__all__ = ["DEFAULT_SEQUENCE_FEATURES", "RegimeClassifier", "time_split"]

# every m002 feature except those in price units, which mean different things across tickers
DEFAULT_SEQUENCE_FEATURES: Final = tuple(
    f.name for f in FEATURE_SETS["m002"] if not f.name.startswith("_") and f.units != "price"
)
_MODEL_FILE, _META_FILE = "regime_model.pt", "regime_meta.json"
_FORMAT: Final = 2  # 2: six outputs ("none" last) and a calibration; 1 (no key): five, none
_PREDICT_BATCH = 1024
"""Windows per forward pass when scoring. On 2 cores, two batches of 1,024 windows at once,
each on one torch thread, score twice as fast as one batch of 4,096 on two threads; the
outputs do not depend on it (a window's logits are the same in any batch of two or more
windows, and `RegimeClassifier._logits` never scores one alone)."""
_OUTCOME: Final = "_regime_outcome"
_DISPLAY: Final = {"lstm": "LSTM", "transformer": "Transformer"}


def time_split(
    end_positions: np.ndarray, n_dates: int, *, valid_fraction: float, gap: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Training and validation windows by time, with a purge gap between them.

    Parameters
    ----------
    end_positions : np.ndarray
        Position of each window's date in the sorted calendar of all dates (0 .. n_dates-1).
    n_dates : int
    valid_fraction : float
        Share of the calendar, at its end, that validates.
    gap : int
        Calendar positions left out between the last training window and the first
        validation one: ``seq_len + lookahead`` keeps both a training label's hindsight and a
        validation window's inputs away from each other.

    Returns
    -------
    (train_mask, valid_mask, valid_start) : the masks over windows and the first validation
    position.
    """
    valid_start = math.floor(n_dates * (1.0 - valid_fraction))
    train = end_positions <= valid_start - 1 - gap
    valid = end_positions >= valid_start
    return train, valid, valid_start


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    """Torch's intra-op thread count set to ``threads`` for the block, then restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _scoring_pool(workers: int) -> ThreadPoolExecutor:
    """The threads that score windows, kept for the process: threads made afresh for every
    call leave memory behind in the allocator (about 0.5 GB more peak RSS over a 500-ticker
    `predict`). A forked child has none of its parent's threads: it makes its own."""
    return _process_pool(workers, os.getpid())


@functools.cache
def _process_pool(workers: int, pid: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(workers, thread_name_prefix="m002-scoring")


class RegimeClassifier(BaseEstimator):  # type: ignore[misc]
    """Layer 1: a sequence model over ``seq_len``-day windows of features -> regime state
    probabilities.

    Parameters
    ----------
    seq_len : int
        Rows per window (default 20).
    hidden_size, num_layers, dropout
        The network's shape (`RegimeLSTM`; for the transformer ``hidden_size`` is
        ``d_model``); default 32, 1 and 0.1. 32 units were chosen over 64 on the walk-forward's
        early folds (docs/config.md): a third of the work per window step, and no worse.
    batch_size : int
        Windows drawn per step, before the balanced collate repeats minority outcomes.
    max_epochs : int
    patience : int
        Epochs without a better validation loss before stopping; the best epoch's weights
        are restored.
    lr, weight_decay : float
        AdamW.
    lr_schedule : {"constant", "cosine"}
        How the learning rate moves over a fit (`m002.regime.LR_SCHEDULES`): ``"constant"``
        keeps ``lr``; ``"cosine"`` lowers it from ``lr`` to 0 over ``max_epochs`` epochs, step
        by step. Default ``"cosine"`` with ``lr`` 0.006 and 10 epochs, chosen over a constant
        0.003 for 15 epochs on the walk-forward's early folds (docs/config.md): two thirds of
        the epochs, and no worse.
    label_smoothing : float
        Of the cross-entropy loss (spec: 0.15).
    valid_fraction : float
        Last share of the calendar used for validation (early stopping and metrics).
    max_gap_days : int
        Calendar-day gap that breaks a window (`build_sequences`).
    feature_columns : sequence of str, optional
        Window features; default `DEFAULT_SEQUENCE_FEATURES`.
    label_config : RegimeLabelConfig, optional
        Used when the frame given to `fit` has no ``regime_state_id`` yet.

    Notes
    -----
    Training windows are those ending on a row with a known outcome: a state, or "no state".
    The no-state windows outnumber all states together, so each epoch takes every state window
    and a fresh seeded draw of no-state windows, as many as the states have on average: an
    epoch costs about a fifth more than one over the state windows alone, and over the epochs
    the model sees many different no-state windows.
    seed : int
    threads : int
        Torch threads while fitting (restored after). The backward pass sums in an order
        that depends on the thread count, so the fitted weights do too, in their last bits:
        a fixed number makes a fit the same wherever it runs (any executor, any machine),
        and it is part of the config, hence of the stage cache's key. Prediction does not
        depend on it.
    model : {"lstm", "transformer"}
        The network (`m002.regime.SEQUENCE_MODELS`): `RegimeLSTM`, or `RegimeTransformer`
        (sinusoidal positions, the last position read by the head).
    n_heads : int
        The transformer's attention heads; must divide ``hidden_size`` (default 4).
    loss : {"cross_entropy", "focal"}
        Training loss (`m002.regime.LOSSES`), both on label-smoothed targets; ``"focal"``
        down-weights the windows the network already gets right by ``(1 - p)^focal_gamma``.
        The calibration undoes the smoothing as the cross-entropy's; with the focal loss,
        whose softmax is flatter, the validation temperature corrects what remains.
    focal_gamma : float
        The focal loss's exponent (>= 0; default 2.0; 0 is the cross-entropy).
    sampling : {"balanced_batch", "weighted_batch", "none", "smote", "adasyn"}
        How each epoch's batches are drawn from the training windows
        (`m002.regime.SAMPLERS`): today's epoch draw with balanced batches (repeats as
        copies, or as weights: the same loss, a third fewer windows to compute), every window
        at its training frequency, or the epoch draw completed with SMOTE's or ADASYN's
        synthetic windows (imbalanced-learn: ``pip install 'm002[experiments]'``). The
        calibration takes the network's output from the mix its batches had (balanced, or
        the training frequencies for ``"none"``) to the training frequencies.
    curriculum : {"none", "loss"}
        ``"loss"``: a short first fit of ``curriculum_epochs`` epochs ranks the training
        windows by their loss, and the main fit sees each outcome's easiest half first, all
        of them from the middle of ``max_epochs`` on (`m002.regime.CURRICULA`).
    curriculum_epochs : int
        Epochs of the curriculum's scoring fit (default 2).
    max_windows_per_epoch : int or None
        The most training windows one epoch draws (a seeded random subset of the sampler's
        draw, before any synthetic windows): an epoch then costs the same whatever the
        history's length. None (the default) keeps every window the sampler draws.
    pseudo_label_threshold : float or None
        When set (in (0, 1]), a first fit's calibrated probabilities relabel each no-state
        training window whose most likely state reaches the threshold to that state, and
        the network is fitted again, with the same seed, on those labels. Validation, the
        calibration's frequencies and every metric keep the true labels.
    verbose : bool
        Show a progress bar per epoch.

    Attributes
    ----------
    model_ : SequenceNetwork
        The fitted `RegimeLSTM` or `RegimeTransformer`.
    classes_ : list of str
        State names in class-id order: the ``state_prob_*`` columns.
    outputs_ : list of str
        The network's outputs: the states, then ``"none"``.
    calibration_ : OutcomeCalibration
        Prior correction and temperature that turn the network's logits into probabilities.
    feature_names_ : list of str
    n_features_in_ : int
    label_lookahead_ : int
        Hindsight of the labels the model was trained on.
    history_ : list of dict
        Per epoch: train loss and accuracy (on the balanced batches), valid loss and accuracy
        (log loss and accuracy of the prior-corrected six outcomes on every validation
        window, the early-stopping criterion).
    metrics_ : dict
        On the validation block, with probabilities calibrated out of fold (each half of the
        block in time gets the temperature fitted on the other half):

        - ``n``, ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``per_class``,
          ``confusion_matrix``: the labelled windows only (a state label), the most likely
          of the five states against it, as m002 has always reported;
        - ``all_rows``: every window with a known outcome, six outcomes (`outcome_metrics`:
          macro F1 and accuracy of the most likely outcome, log loss, Brier, and each
          outcome's ``mean_probability`` next to its ``frequency``);
        - ``reliability``: `reliability_table` of those windows;
        - ``sequences_per_class`` (train and valid, "none" included), ``best_epoch``,
          ``split`` and ``calibration`` (the stored temperature, the two out-of-fold ones,
          the training frequencies);
        - with ``curriculum="loss"``, ``curriculum``: per epoch of the main fit the share of
          each outcome's windows allowed and their mean difficulty;
        - with pseudo-labels, ``pseudo_labels``: the threshold, the windows relabelled to
          each state and the first fit's best epoch.
    """

    def __init__(
        self,
        *,
        seq_len: int = 20,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.1,
        batch_size: int = 256,
        max_epochs: int = 10,
        patience: int = 3,
        lr: float = 6e-3,
        lr_schedule: str = "cosine",
        weight_decay: float = 1e-4,
        label_smoothing: float = 0.15,
        valid_fraction: float = 0.2,
        max_gap_days: int = 7,
        feature_columns: Sequence[str] | None = None,
        label_config: RegimeLabelConfig | None = None,
        seed: int = 0,
        threads: int = 1,
        model: str = "lstm",
        n_heads: int = 4,
        loss: str = "cross_entropy",
        focal_gamma: float = 2.0,
        sampling: str = "balanced_batch",
        curriculum: str = "none",
        curriculum_epochs: int = 2,
        pseudo_label_threshold: float | None = None,
        max_windows_per_epoch: int | None = None,
        verbose: bool = True,
    ) -> None:
        self.seq_len = seq_len
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.dropout = dropout
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.valid_fraction = valid_fraction
        self.max_gap_days = max_gap_days
        self.feature_columns = feature_columns
        self.label_config = label_config
        self.seed = seed
        self.threads = threads
        self.model = model
        self.n_heads = n_heads
        self.loss = loss
        self.focal_gamma = focal_gamma
        self.sampling = sampling
        self.curriculum = curriculum
        self.curriculum_epochs = curriculum_epochs
        self.pseudo_label_threshold = pseudo_label_threshold
        self.max_windows_per_epoch = max_windows_per_epoch
        self.verbose = verbose

    # --- checks ---------------------------------------------------------------------------

    def _validate_params(self) -> None:
        rules: list[tuple[str, bool]] = [
            ("seq_len", self.seq_len >= 2),
            ("hidden_size", self.hidden_size >= 1),
            ("num_layers", self.num_layers >= 1),
            ("dropout", 0.0 <= self.dropout < 1.0),
            ("batch_size", self.batch_size >= 2),
            ("max_epochs", self.max_epochs >= 1),
            ("patience", self.patience >= 1),
            ("threads", self.threads >= 1),
            ("lr", self.lr > 0),
            ("weight_decay", self.weight_decay >= 0),
            ("label_smoothing", 0.0 <= self.label_smoothing < 1.0),
            ("valid_fraction", 0.0 < self.valid_fraction < 1.0),
            ("max_gap_days", self.max_gap_days >= 1),
            ("n_heads", self.n_heads >= 1),
            ("focal_gamma", self.focal_gamma >= 0),
            ("curriculum_epochs", self.curriculum_epochs >= 1),
        ]
        expected = {
            "seq_len": ">= 2",
            "hidden_size": ">= 1",
            "num_layers": ">= 1",
            "dropout": "in [0, 1)",
            "batch_size": ">= 2",
            "max_epochs": ">= 1",
            "patience": ">= 1",
            "lr": "> 0",
            "weight_decay": ">= 0",
            "label_smoothing": "in [0, 1)",
            "valid_fraction": "in (0, 1)",
            "max_gap_days": ">= 1",
            "threads": ">= 1",
            "n_heads": ">= 1",
            "focal_gamma": ">= 0",
            "curriculum_epochs": ">= 1",
        }
        for name, ok in rules:
            if not ok:
                value = getattr(self, name)
                msg = f"`{name}` must be {expected[name]}, got `{name}={value!r}`"
                raise ConfigError(msg)
        self._validate_components()

    def _validate_components(self) -> None:
        """The names of the swappable parts, and what each needs."""
        registries: dict[str, dict[str, Any]] = {
            "model": SEQUENCE_MODELS,
            "loss": LOSSES,
            "sampling": SAMPLERS,
            "curriculum": CURRICULA,
            "lr_schedule": LR_SCHEDULES,
        }
        for name, registry in registries.items():
            check_choice(name, getattr(self, name), registry)
        if self.model == "transformer" and self.hidden_size % self.n_heads:
            msg = (
                "`hidden_size` must be a multiple of `n_heads` for the transformer, got "
                f"`hidden_size={self.hidden_size}`, `n_heads={self.n_heads}`"
            )
            raise ConfigError(msg)
        threshold = self.pseudo_label_threshold
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not 0.0 < threshold <= 1.0
        ):
            msg = (
                "`pseudo_label_threshold` must be None (off) or in (0, 1], got "
                f"`pseudo_label_threshold={threshold!r}`"
            )
            raise ConfigError(msg)
        if self.max_windows_per_epoch is not None:
            check_int("max_windows_per_epoch", self.max_windows_per_epoch, 1)
        if SAMPLERS[self.sampling].needs_imblearn:
            require_imblearn(self.sampling)

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            msg = (
                "this RegimeClassifier is not fitted yet: call `fit(frame)` or "
                "`RegimeClassifier.load(path)` first"
            )
            raise NotFittedError(msg)

    @staticmethod
    def _check_features(frame: pl.LazyFrame, names: Sequence[str]) -> None:
        require_columns(
            frame,
            names,
            needed_by="the regime model",
            hint="build the features with `m002.features.build_dataset(..., 'm002')`",
        )

    # --- fit ------------------------------------------------------------------------------

    def _labelled(self, frame: pl.LazyFrame) -> tuple[pl.LazyFrame, int]:
        names = frame.collect_schema().names()
        if REGIME_STATE_ID in names:
            if REGIME_LABEL_KNOWN not in names:
                msg = (
                    f"the frame has `{REGIME_STATE_ID}` but no `{REGIME_LABEL_KNOWN}` (labels "
                    "of an older m002, which cannot tell 'no state' from 'unknown'): label it "
                    "again with `m002.labels.assign_regime_labels`, or pass it unlabelled"
                )
                raise SchemaError(msg)
            lookahead = frame.select(pl.col(REGIME_LABEL_LOOKAHEAD).max()).collect().item()
            return frame, int(lookahead or 0)
        config = self.label_config or RegimeLabelConfig()
        return assign_regime_labels(frame, config), config.lookahead

    def fit(
        self, frame: pl.DataFrame | pl.LazyFrame, *, init: RegimeClassifier | None = None
    ) -> RegimeClassifier:
        """Label (if needed), split by time with a purge gap, train with early stopping.

        Parameters
        ----------
        frame : pl.DataFrame or pl.LazyFrame
            m002 features per (ticker, date); ``regime_state_id``, ``regime_label_known``
            and ``regime_label_lookahead`` when already labelled, else labels are assigned
            with ``label_config``.
        init : RegimeClassifier, optional
            A fitted model of the same shape (features, ``hidden_size``, ``num_layers``) whose
            weights training starts from (a warm start) instead of random ones; the feature
            scaler is still this fit's own. Deterministic like a cold fit: the same ``init``,
            rows and seed give the same model.

        Returns
        -------
        self

        Raises
        ------
        ConfigError
            A parameter is out of range.
        SchemaError
            A feature column is missing, or the data give no training or no validation
            window (the message names ``seq_len`` and the longest usable run of rows).
        """
        self._validate_params()
        lazy = frame.lazy()
        columns = list(self.feature_columns or DEFAULT_SEQUENCE_FEATURES)
        self._check_features(lazy, columns)
        if init is not None:
            self._check_init(init, columns)
        labelled, lookahead = self._labelled(lazy)
        sequences = build_sequences(
            labelled.with_columns(regime_outcome().alias(_OUTCOME)),
            columns,
            seq_len=self.seq_len,
            max_gap_days=self.max_gap_days,
            label_column=_OUTCOME,
        )
        calendar = sequences.keys[DATE].unique().sort()
        positions = np.searchsorted(calendar.to_numpy(), sequences.end_dates().to_numpy())
        train_mask, valid_mask, valid_start = time_split(
            positions,
            calendar.len(),
            valid_fraction=self.valid_fraction,
            gap=self.seq_len + lookahead,
        )
        train, valid = sequences.subset(train_mask), sequences.subset(valid_mask)
        if len(train) == 0 or len(valid) == 0:
            msg = (
                f"not enough labelled windows to train and validate layer 1: {len(train)} "
                f"training and {len(valid)} validation windows of `seq_len={self.seq_len}` "
                f"over {calendar.len()} dates; the longest usable run of rows (one ticker, "
                f"no gap over {self.max_gap_days} days, no null feature) is "
                f"{sequences.longest_run} rows, and a window needs `seq_len` of them plus a "
                "known label; lower `seq_len`, give more history or lower `valid_fraction`"
            )
            raise SchemaError(msg)
        self.classes_ = list(CLASS_NAMES)
        self.outputs_ = list(OUTCOME_NAMES)
        self.feature_names_ = columns
        self.n_features_in_ = len(columns)
        self.label_lookahead_ = lookahead
        self.split_ = {
            "train_end": str(calendar[max(valid_start - 1 - self.seq_len - lookahead, 0)]),
            "valid_start": str(calendar[valid_start]),
            "gap_dates": self.seq_len + lookahead,
        }
        counts = np.bincount(train.require_labels(), minlength=len(self.outputs_))
        prior = self._prior(counts, counts)
        extra = self._fit_network(train, valid, prior, init)
        valid_logits = self._logits(self.model_, valid).numpy()
        self.calibration_ = prior.fit_temperature(valid_logits, valid.require_labels())
        if self.pseudo_label_threshold is not None:
            extra, prior = self._refit_on_pseudo_labels(
                train, valid, counts, init, self.pseudo_label_threshold
            )
            valid_logits = self._logits(self.model_, valid).numpy()
            self.calibration_ = prior.fit_temperature(valid_logits, valid.require_labels())
        self.metrics_ = {**self._evaluate(train, valid, valid_logits, prior), **extra}
        return self

    def _prior(self, true_counts: np.ndarray, trained_counts: np.ndarray) -> OutcomeCalibration:
        """The calibration (temperature 1) from the outcome mix of the network's batches to
        the true training frequencies: the mix is balanced over the outcomes the network was
        trained on (``trained_counts``: pseudo-labels may differ from the true ones), or,
        for a sampler that does not balance, their frequencies."""
        prior = OutcomeCalibration.from_counts(true_counts, label_smoothing=self.label_smoothing)
        balanced = SAMPLERS[self.sampling].balanced
        if balanced and np.array_equal(true_counts > 0, trained_counts > 0):
            return prior
        truth = np.asarray(prior.train_frequency)
        if balanced:
            batches = (trained_counts > 0) / np.count_nonzero(trained_counts)
        else:
            batches = trained_counts / trained_counts.sum()
        shift = [
            math.log(t / b) if t > 0 and b > 0 else -math.inf
            for t, b in zip(truth.tolist(), batches.tolist(), strict=True)
        ]
        return dataclasses.replace(prior, log_prior_shift=tuple(shift))

    def _fit_network(
        self,
        train: SequenceSet,
        valid: SequenceSet,
        prior: OutcomeCalibration,
        init: RegimeClassifier | None,
    ) -> dict[str, Any]:
        """Seeded fit of ``model_`` (with ``history_``, ``best_epoch_``) on ``train``, through
        the curriculum when one is set; returns the curriculum's record for `metrics_`."""
        labels = train.require_labels()
        kind = CURRICULA[self.curriculum]
        difficulty = None
        with torch.random.fork_rng(), _torch_threads(self.threads):
            if kind.scored:
                # a short fit on the training windows alone, whose losses rank them
                torch.manual_seed(self.seed)
                every = AllWindows(labels, self.curriculum_epochs)
                scout, _, _ = self._train(train, None, prior, init, every, self.curriculum_epochs)
                difficulty = self._window_losses(scout, train)
            torch.manual_seed(self.seed)
            schedule = kind(labels, self.max_epochs, difficulty)
            model, history, best_epoch = self._train(
                train, valid, prior, init, schedule, self.max_epochs
            )
        self.model_: SequenceNetwork = model
        self.history_: list[dict[str, float]] = history
        self.best_epoch_ = best_epoch
        if difficulty is None:
            return {}
        shares, means = [], []
        for epoch in range(1, len(history) + 1):
            allowed = schedule.windows(epoch)
            shares.append(allowed.size / labels.size)
            means.append(float(difficulty[allowed].mean()))
        return {
            "curriculum": {
                "scoring_epochs": self.curriculum_epochs,
                "share_per_epoch": shares,
                "mean_difficulty_per_epoch": means,
            }
        }

    def _loss(self, reduction: str) -> nn.Module:
        """The configured loss: the batch's mean (``"mean"``) or one value per window
        (``"none"``)."""
        return build_loss(
            self.loss,
            label_smoothing=self.label_smoothing,
            focal_gamma=self.focal_gamma,
            reduction=reduction,
        )

    def _window_losses(self, model: SequenceNetwork, train: SequenceSet) -> np.ndarray:
        """Each training window's loss under ``model`` (no dropout): the curriculum's
        difficulty."""
        loss_fn = self._loss("none")
        logits = self._logits(model, train)
        y = torch.from_numpy(train.require_labels().astype(np.int64))
        with torch.no_grad():
            return loss_fn(logits, y).numpy().astype(np.float64)  # type: ignore[no-any-return]

    def _refit_on_pseudo_labels(
        self,
        train: SequenceSet,
        valid: SequenceSet,
        counts: np.ndarray,
        init: RegimeClassifier | None,
        threshold: float,
    ) -> tuple[dict[str, Any], OutcomeCalibration]:
        """Relabel confident no-state training windows with the fitted model, then fit again
        (same seed) on them; returns the record for `metrics_` and the second fit's prior
        (``counts``: the true training outcomes)."""
        probs = self.calibration_.probabilities(self._logits(self.model_, train).numpy())
        labels, per_state = pseudo_labels(train.require_labels(), probs, threshold)
        first_best = self.best_epoch_
        prior = self._prior(counts, np.bincount(labels, minlength=len(self.outputs_)))
        extra = self._fit_network(dataclasses.replace(train, labels=labels), valid, prior, init)
        record = {
            "threshold": threshold,
            "relabelled": dict(zip(self.classes_, per_state.tolist(), strict=True)),
            "first_fit_best_epoch": first_best,
        }
        return {**extra, "pseudo_labels": record}, prior

    def _check_init(self, init: RegimeClassifier, columns: list[str]) -> None:
        init._check_fitted()
        mine = (columns, self.hidden_size, self.num_layers, self.model, self.n_heads)
        theirs = (
            list(init.feature_names_),
            init.hidden_size,
            init.num_layers,
            init.model,
            init.n_heads,
        )
        if mine[:4] != theirs[:4] or (self.model == "transformer" and mine[4] != theirs[4]):
            msg = (
                "a warm start needs a model of the same shape: `init` has "
                f"{len(theirs[0])} features, hidden_size={theirs[1]}, num_layers={theirs[2]}, "
                f"model={theirs[3]!r}, n_heads={theirs[4]}; this one {len(mine[0])}, "
                f"hidden_size={mine[1]}, num_layers={mine[2]}, model={mine[3]!r}, "
                f"n_heads={mine[4]}"
            )
            raise ConfigError(msg)

    def _scaler(self, train: SequenceSet) -> tuple[np.ndarray, np.ndarray]:
        """Mean and std of the feature rows that training windows cover (and no other)."""
        covered = np.zeros(train.features.shape[0] + 1, dtype=np.int64)
        np.add.at(covered, train.ends - train.seq_len + 1, 1)
        np.add.at(covered, train.ends + 1, -1)
        rows = train.features[np.cumsum(covered[:-1]) > 0].astype(np.float64)
        return rows.mean(axis=0), rows.std(axis=0)

    def _train(
        self,
        train: SequenceSet,
        valid: SequenceSet | None,
        prior: OutcomeCalibration,
        init: RegimeClassifier | None,
        schedule: AllWindows,
        epochs: int,
    ) -> tuple[SequenceNetwork, list[dict[str, float]], int]:
        """Train a fresh network for at most ``epochs`` epochs on the windows ``schedule``
        allows each epoch, drawn by the ``sampling`` sampler; with ``valid``, stop early and
        keep the best epoch's weights, without it (the curriculum's scoring fit) keep the
        last ones. Returns the network, the history and the best epoch."""
        model = build_network(
            self.model,
            self.n_features_in_,
            len(self.outputs_),
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            dropout=self.dropout,
            n_heads=self.n_heads,
        )
        if init is not None:
            model.load_state_dict(init.model_.state_dict())
        model.set_scaler(*self._scaler(train))
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=self.lr, weight_decay=self.weight_decay
        )
        mean_loss, window_loss = self._loss("mean"), self._loss("none")
        sampler = SAMPLERS[self.sampling](
            batch_size=self.batch_size,
            seed=self.seed,
            threads=self.threads,
            scaler=(model.feature_mean.numpy(), model.feature_std.numpy()),
            max_windows=self.max_windows_per_epoch,
        )
        history: list[dict[str, float]] = []
        best_loss, best_state, stale = math.inf, copy.deepcopy(model.state_dict()), 0
        name = _DISPLAY.get(self.model, self.model) + ("" if valid is not None else " scoring")
        progress = Progress(
            TextColumn(f"[bold]{name}[/] epoch {{task.fields[epoch]}}"),
            BarColumn(bar_width=8),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]:.3f} acc {task.fields[acc]:.3f}"),
            TextColumn("{task.fields[valid]}"),
            disable=not self.verbose,
        )
        with progress:
            for epoch in range(1, epochs + 1):
                batches = sampler.epoch(train, schedule.windows(epoch))
                task = progress.add_task(
                    "", total=batches.n_batches, epoch=epoch, loss=0.0, acc=0.0, valid=""
                )
                model.train()
                loss_sum, correct, seen = 0.0, 0.0, 0.0
                for step, (x, y, weight) in enumerate(batches.batches):
                    factor = lr_factor(self.lr_schedule, epoch, step, batches.n_batches, epochs)
                    for group in optimizer.param_groups:
                        group["lr"] = self.lr * factor
                    optimizer.zero_grad()
                    logits = model(x)
                    hits = logits.argmax(1) == y
                    if weight is None:
                        loss, count = mean_loss(logits, y), float(y.numel())
                        correct += float(hits.sum())
                    else:  # each window counts `weight` times
                        loss = weighted_mean_loss(window_loss, logits, y, weight)
                        count = float(weight.sum())
                        correct += float((hits * weight).sum())
                    loss.backward()
                    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                    optimizer.step()
                    loss_sum += loss.item() * count
                    seen += count
                    progress.update(task, advance=1, loss=loss_sum / seen, acc=correct / seen)
                record = {
                    "epoch": epoch,
                    "train_loss": loss_sum / seen,
                    "train_accuracy": correct / seen,
                }
                if valid is None:
                    history.append(record)
                    continue
                valid_loss, valid_acc = self._loss_and_accuracy(model, valid, prior)
                history.append({**record, "valid_loss": valid_loss, "valid_accuracy": valid_acc})
                progress.update(task, valid=f"| valid loss {valid_loss:.3f} acc {valid_acc:.3f}")
                if valid_loss < best_loss - 1e-6:
                    best_loss, best_state, stale = valid_loss, copy.deepcopy(model.state_dict()), 0
                else:
                    stale += 1
                    if stale >= self.patience:
                        break
        if valid is None:
            model.eval()
            return model, history, len(history)
        model.load_state_dict(best_state)
        model.eval()
        best_epoch = int(np.argmin([h["valid_loss"] for h in history]) + 1)
        return model, history, best_epoch

    def _logits(self, model: SequenceNetwork, sequences: SequenceSet) -> torch.Tensor:
        """The model's logits of every window, in batches of `_PREDICT_BATCH` scored on
        torch's thread count of workers, each on one torch thread: torch's LSTM barely
        gains from a second thread within one batch, and two batches at once score at
        twice the rate. The same logits whatever the number of workers."""
        matrix = torch.from_numpy(sequences.features)
        model.eval()

        def batch(start: int) -> torch.Tensor:
            ends = sequences.ends[start : start + _PREDICT_BATCH]
            # one window alone takes another kernel (last bits differ): score it twice
            n = ends.size
            index = torch.from_numpy(window_indices(np.resize(ends, max(n, 2)), sequences.seq_len))
            # per thread (torch's grad mode is thread-local); inference mode also skips the
            # version counters that no_grad keeps: about 7% faster on one thread
            with torch.inference_mode():
                out: torch.Tensor = model(matrix[index])[:n]
            return out

        starts = range(0, len(sequences), _PREDICT_BATCH)
        workers = min(torch.get_num_threads(), len(starts))
        if workers <= 1:
            chunks = [batch(start) for start in starts]
        else:
            with _torch_threads(1):
                chunks = list(_scoring_pool(workers).map(batch, starts))
        if not chunks:
            return torch.empty((0, model.head.out_features))
        return torch.cat(chunks)

    def _loss_and_accuracy(
        self, model: SequenceNetwork, sequences: SequenceSet, prior: OutcomeCalibration
    ) -> tuple[float, float]:
        """Log loss and accuracy of the prior-corrected outcomes: what the model will say."""
        logits = self._logits(model, sequences).numpy()
        y = sequences.require_labels()
        model.train()
        predicted = prior.probabilities(logits).argmax(axis=1)
        return prior.mean_log_loss(logits, y), float((predicted == y).mean())

    def _out_of_fold(
        self, valid: SequenceSet, logits: np.ndarray, prior: OutcomeCalibration
    ) -> tuple[np.ndarray, list[float]]:
        """Validation probabilities, each half of the block (in time) calibrated with the
        temperature fitted on the other half, so that the metrics do not grade the fit."""
        y = valid.require_labels()
        dates = valid.end_dates().to_numpy()
        unique = np.unique(dates)
        first = dates < unique[unique.size // 2]
        if not first.any() or first.all():  # one date: no halves, the stored calibration
            return self.calibration_.probabilities(logits), [self.calibration_.temperature]
        probs = np.empty((y.size, len(self.outputs_)))
        temperatures = []
        for fit_rows in (first, ~first):
            fold = prior.fit_temperature(logits[fit_rows], y[fit_rows])
            probs[~fit_rows] = fold.probabilities(logits[~fit_rows])
            temperatures.append(fold.temperature)
        return probs, temperatures

    def _evaluate(
        self,
        train: SequenceSet,
        valid: SequenceSet,
        logits: np.ndarray,
        prior: OutcomeCalibration,
    ) -> dict[str, Any]:
        y = valid.require_labels()
        probs, temperatures = self._out_of_fold(valid, logits, prior)
        states = y != NO_STATE_ID
        n_states = len(self.classes_)
        predicted = probs[states, :n_states].argmax(axis=1)
        metrics = classification_metrics(y[states], predicted, self.classes_)
        metrics["all_rows"] = outcome_metrics(y, probs, self.outputs_)
        metrics["reliability"] = reliability_table(y, probs, self.outputs_)
        n = len(self.outputs_)
        metrics["sequences_per_class"] = {
            part: dict(zip(self.outputs_, np.bincount(labels, minlength=n).tolist(), strict=True))
            for part, labels in (("train", train.require_labels()), ("valid", y))
        }
        metrics["best_epoch"] = self.best_epoch_
        metrics["split"] = self.split_
        metrics["calibration"] = {
            **self.calibration_.to_dict(self.outputs_),
            "out_of_fold_temperatures": temperatures,
        }
        return metrics

    # --- predict --------------------------------------------------------------------------

    def predict_probabilities(
        self, frame: pl.DataFrame | pl.LazyFrame, *, since: date | None = None
    ) -> pl.DataFrame:
        """State probabilities per (ticker, date), at the states' real frequencies.

        ``since``: only the windows ending on or after this date are scored (the rest of the
        frame is their history); the earlier rows get null.

        Returns
        -------
        pl.DataFrame
            ticker, date and one ``state_prob_<state>`` column per state, one row per input
            row (sorted by ticker, date); null where fewer than ``seq_len`` clean rows (no
            ticker change, date gap or null feature) end at that date. Each is the
            probability that the row's hindsight confirms that state; the five sum to at
            most 1, and ``1 - sum`` is the probability of no state. Deterministic: the same
            model and rows give the same numbers.
        """
        self._check_fitted()
        lazy = frame.lazy()
        self._check_features(lazy, self.feature_names_)
        sequences = build_sequences(
            lazy, self.feature_names_, seq_len=self.seq_len, max_gap_days=self.max_gap_days
        )
        if since is not None:
            sequences = sequences.subset((sequences.end_dates() >= since).to_numpy())
        logits = self._logits(self.model_, sequences).numpy()
        probs = self.calibration_.probabilities(logits)[:, : len(self.classes_)]
        full = np.full((sequences.features.shape[0], len(self.classes_)), np.nan)
        full[sequences.ends] = probs
        columns = {
            name: pl.Series(name, full[:, i]).fill_nan(None)
            for i, name in enumerate(state_prob_columns())
        }
        return sequences.keys.with_columns(**columns)

    # --- persistence ----------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write ``regime_model.pt`` (the state dict) and ``regime_meta.json`` (parameters,
        outputs, calibration, history, metrics) into ``path``, each file atomically."""
        self._check_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        # through memory: saved to a path, torch names the archive's records after the file
        # (a temporary name here), so the same weights would give other bytes on every save
        weights = io.BytesIO()
        torch.save(self.model_.state_dict(), weights)
        with atomic_file(folder / _MODEL_FILE) as tmp:
            tmp.write_bytes(weights.getvalue())
        params = self.get_params()
        params["feature_columns"] = list(self.feature_names_)
        if self.label_config is not None:
            params["label_config"] = asdict(self.label_config)
        meta = {
            "m002_version": __version__,
            "format": _FORMAT,
            "params": params,
            "classes": self.classes_,
            "outputs": self.outputs_,
            "calibration": self.calibration_.to_dict(self.outputs_),
            "feature_names": self.feature_names_,
            "label_lookahead": self.label_lookahead_,
            "scaler": {
                "mean": self.model_.feature_mean.tolist(),
                "std": self.model_.feature_std.tolist(),
            },
            "history": self.history_,
            "metrics": self.metrics_,
            "best_epoch": self.best_epoch_,
            "split": self.split_,
        }
        write_json(folder / _META_FILE, meta)
        return folder

    @classmethod
    def load(cls, path: str | Path) -> RegimeClassifier:
        """Load a classifier written by `save` (weights with ``weights_only=True``, the rest
        from JSON: nothing is unpickled).

        A model saved before the calibration existed (five outputs) loads with the plain
        softmax, as it predicted then.
        """
        folder = Path(path)
        for name in (_MODEL_FILE, _META_FILE):
            if not (folder / name).is_file():
                msg = f"{folder} is not a saved RegimeClassifier: {name} is missing"
                raise FileNotFoundError(msg)
        meta = read_json(folder / _META_FILE, what="the regime model's metadata")
        params = dict(meta["params"])
        params.setdefault("lr_schedule", "constant")  # saved before the schedule existed
        if isinstance(params.get("label_config"), dict):
            params["label_config"] = RegimeLabelConfig(**params["label_config"])
        model = cls(**params)
        outputs = list(meta.get("outputs") or meta["classes"])
        # a model saved before the networks had names has no "model" parameter: the LSTM
        net = build_network(
            model.model,
            len(meta["feature_names"]),
            len(outputs),
            hidden_size=model.hidden_size,
            num_layers=model.num_layers,
            dropout=model.dropout,
            n_heads=model.n_heads,
        )
        state = torch.load(folder / _MODEL_FILE, weights_only=True)
        net.load_state_dict(state)
        net.eval()
        model.model_ = net
        model.classes_ = list(meta["classes"])
        model.outputs_ = outputs
        model.calibration_ = (
            OutcomeCalibration.from_dict(meta["calibration"], outputs)
            if meta.get("calibration")
            else OutcomeCalibration.identity(len(outputs))
        )
        model.feature_names_ = list(meta["feature_names"])
        model.n_features_in_ = len(model.feature_names_)
        model.label_lookahead_ = int(meta["label_lookahead"])
        model.history_ = meta["history"]
        model.metrics_ = meta["metrics"]
        model.best_epoch_ = int(meta["best_epoch"])
        model.split_ = meta["split"]
        return model
