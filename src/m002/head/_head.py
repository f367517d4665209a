"""Layer 2: the multi-task head of gradient-boosted trees (spec section 3).

Three models on one feature matrix, `HEAD_FEATURES` (the scale-free m002 features plus the
layer-1 ``state_prob_*`` columns): a binary classifier for ``label_rebound_bin`` and one
regressor each for the return target and ``future_dd_pct``. Each is its own booster, so that
each can stop early on its own validation score and keep its own number of trees. The
library that grows them is the ``model`` parameter: LightGBM (``lightgbm.train``, the
default) or XGBoost (``xgboost.train``), behind `m002.head._backends`, which maps the
parameters onto each.

The rebound classifier's fitting rows may be over-sampled (``sampling``: SMOTE or ADASYN,
`m002.head._sampling`): synthetic rebound rows made from the rows given to `fit` only, never
from the validation rows, and seen by the classifier alone.

What the return model learns is the ``target`` parameter, a `m002.labels.ReturnTarget`:
``future_ret_pct`` as it is (``raw``), or a cross-sectional form of it computed within each
date of the frame being fitted (``excess``, ``vol_scaled_excess``, ``rank``: see
`m002.labels.return_target`). Its prediction keeps the name ``pred_expected_ret_pct`` whatever
the target; only its units change (below).

Training length: with a validation frame, `MultiTaskHead.fit` grows each model until its
validation loss (binary log loss; l2 or Huber) has not improved for ``early_stopping_rounds``
trees and keeps the best number, recorded in ``best_iterations_``; `MultiTaskHead.refit`
then fits a fresh head on more rows with exactly those tree counts. The validation rows must
be separated from the fitted rows by a purge gap of at least the target horizon (DESIGN rule
3): the head cannot check that, its caller must.

Missing values: null and NaN features are passed to the library as NaN, which it treats as
missing (each split learns which side missing values go to); +/-inf, which no feature should
produce but a user frame might, is turned into NaN as well and counted in
``n_infinite_replaced_``. Nothing is imputed with a made-up number unless ``fill="zero"``
asks for it. Rows with a null target are not fitted on (the last ``horizon`` rows of each
ticker, and for ``vol_scaled_excess`` the rows without a usable volatility).

Cross-sectional normalisation (``normalize``, `m002.head._normalize` defines it exactly):
each feature rescaled within each date, ``cs_rank`` or ``cs_robust_zscore``, as Qlib's
``CSRankNorm`` and robust ``CSZScoreNorm``, then optionally missing values filled with 0
(``fill``). It happens in one place, `MultiTaskHead._prepared`, for the fitted, validation
and predicted rows alike, over every row of a date in the frame given (before the rows
without targets are dropped), so a loaded head normalises as the fitted one did.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, clone

from m002._checks import check_choice, check_int, import_extra
from m002._schema import DATE, TICKER, require_columns
from m002.exceptions import ConfigError, NotFittedError, SchemaError
from m002.head._backends import (
    DEFAULT_BACKEND,
    HeadBackend,
    Objective,
    ObjectiveKind,
    StopScore,
    TreeParams,
    head_backend,
)
from m002.head._metrics import MIN_IC_NAMES, per_date_ic
from m002.head._normalize import FillMissing, Normalize, normalised
from m002.head._sampling import HEAD_SAMPLERS
from m002.head._saved import read_head, write_head
from m002.labels import RET_TARGET, ReturnTarget, return_target, return_target_inputs
from m002.regime import DEFAULT_SEQUENCE_FEATURES, state_prob_columns

__all__ = [
    "HEAD_FEATURES",
    "HEAD_TARGETS",
    "PRED_COLUMNS",
    "MultiTaskHead",
    "RegressionLoss",
    "ReturnStopping",
]

HEAD_FEATURES: Final[tuple[str, ...]] = (*DEFAULT_SEQUENCE_FEATURES, *state_prob_columns())
HEAD_TARGETS: Final = ("label_rebound_bin", "future_ret_pct", "future_dd_pct")
PRED_COLUMNS: Final = ("pred_rebound_prob", "pred_expected_ret_pct", "pred_expected_dd_pct")
_REBOUND, _RET, _DD = PRED_COLUMNS
_LEARNS: Final = {_REBOUND: "label_rebound_bin", _RET: RET_TARGET, _DD: "future_dd_pct"}
"""The column each output's model is fitted on (the return target is made in `fit`)."""
_HUBER_QUANTILE: Final = 0.9
_N_INFINITE: Final = "__m002_head_n_infinite"
"""Per-row count of infinite features, taken before normalising turns them into nulls."""


class RegressionLoss(StrEnum):
    """The loss of the two regressors (return and drawdown)."""

    L2 = "l2"
    """Squared error (LightGBM ``regression``, XGBoost ``reg:squarederror``): the conditional
    mean."""
    HUBER = "huber"
    """Squared within ``huber_delta`` of the prediction, linear beyond (LightGBM ``huber``,
    whose ``alpha`` is the delta; XGBoost's smooth ``reg:pseudohubererror``, whose
    ``huber_slope`` is the delta): a fat-tailed return moves the trees less."""


class ReturnStopping(StrEnum):
    """What the return model's early stopping watches on the validation rows."""

    LOSS = "loss"
    """Its loss (l2 or Huber), as the other two models."""
    RANK_IC = "rank_ic"
    """The mean over the validation dates of the Spearman correlation, within each date, of
    its predictions with its target (`m002.head.per_date_ic`: dates with at least 5 rows,
    ties averaged), higher better: how well it ranks names, which is what a cross-sectional
    book reads. For every target but ``vol_scaled_excess`` this is the rank IC of
    ``future_ret_pct`` itself, since the others keep each date's order."""


def _mean_rank_ic(dates: pl.Series, target: np.ndarray) -> StopScore:
    """The `ReturnStopping.RANK_IC` score of predictions of the rows of ``dates`` whose
    target is ``target``; 0 where no date has a defined correlation (a constant model)."""
    rows = pl.DataFrame({DATE: dates, "target": target})

    def score(predictions: np.ndarray) -> float:
        scored = rows.with_columns(pl.Series("prediction", predictions, dtype=pl.Float64))
        daily = per_date_ic(scored, "prediction", "target")
        return float(daily["rank_ic"].to_numpy().mean()) if daily.height else 0.0

    return score


def _check_ranked_dates(dates: pl.Series) -> None:
    """Raise a `SchemaError` unless some validation date has the `MIN_IC_NAMES` names a
    rank IC needs: without one, every tree would score alike and the return model would stop
    at its first, silently."""
    most = int(dates.value_counts()["count"].to_numpy().max())
    if most < MIN_IC_NAMES:
        msg = (
            f"`return_stopping='rank_ic'` needs validation dates with at least {MIN_IC_NAMES} "
            f"names to rank; the validation rows have at most {most} per date: set "
            "`return_stopping='loss'` for so few tickers"
        )
        raise SchemaError(msg)


def _huber_delta(y: np.ndarray) -> float:
    """The 90th percentile of ``|y - median(y)|``: the residual scale of a model that knows
    nothing, in the target's own units; the largest deviation, or 1, where that is 0."""
    deviation = np.abs(y - np.median(y))
    for delta in (float(np.quantile(deviation, _HUBER_QUANTILE)), float(deviation.max())):
        if delta > 0:
            return delta
    return 1.0


class MultiTaskHead(BaseEstimator):  # type: ignore[misc]
    """Rebound probability, expected return and expected drawdown from one feature matrix.

    Parameters
    ----------
    n_estimators : int, default 600
        Trees per model (spec: 600); with early stopping, the most each model may grow.
    learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree, reg_lambda
        Tree parameters shared by the three models, in LightGBM's sense
        (`m002.head._backends` maps them onto XGBoost: ``num_leaves`` is ``max_leaves``
        with leaf-wise growth, ``min_child_samples`` a ``min_child_weight`` of about as
        many rows).
        ``learning_rate`` is 0.1 by default, with ``early_stopping_rounds`` 20: chosen over
        0.03 and 50 on the walk-forward's early folds, for about a third of the fitting
        time (docs/config.md).
    reg_alpha : float, default 0.0
        L1 penalty on leaf values (LightGBM's ``lambda_l1``, XGBoost's ``alpha``).
    max_depth : int, default -1
        Deepest a tree may grow, at least 1; -1 for no limit beyond ``num_leaves``.
    model : {"lightgbm", "xgboost"}, default "lightgbm"
        The library that grows the trees (`m002.head._backends.HEAD_BACKENDS`). XGBoost
        comes with ``pip install 'm002[experiments]'``.
    sampling : {"none", "smote", "adasyn"}, default "none"
        Synthetic rebound rows added to the classifier's fitting rows until the two classes
        are (about) equal (`m002.head._sampling.HEAD_SAMPLERS`, imbalanced-learn: ``pip install
        'm002[experiments]'``), made from the fitting rows without a missing feature and
        seeded by ``seed``; the regressors and the validation rows stay real. The
        classifier then learns on balanced classes, so ``pred_rebound_prob`` is no longer
        calibrated to the base rate: read it as a ranking, or recalibrate it.
    target : {"raw", "excess", "vol_scaled_excess", "rank", "zscore"}, default "raw"
        What the return model learns (`m002.labels.ReturnTarget`). ``pred_expected_ret_pct``
        is then in percent for ``raw`` (an expected return) and ``excess`` (an expected
        return over the date's cross-sectional mean), and in the target's own units for
        ``vol_scaled_excess`` (horizon-sigmas), ``rank`` (a position on [-0.5, 0.5]) and
        ``zscore`` (the date's cross-sectional sds): for those three it is a
        cross-sectional score to rank names by, not a return.
    loss : {"l2", "huber"}, default "l2"
        Loss of the return and drawdown regressors (`RegressionLoss`); the classifier's is
        always the binary log loss.
    huber_delta : float, optional
        With ``loss="huber"``: where the loss turns from squared to linear, in each target's
        units (LightGBM's ``alpha``), the same for both regressors. ``None`` (default) sets
        it per regressor from its fitted rows, as the 90th percentile of ``|y - median(y)|``
        (recorded in ``huber_deltas_``), which suits every target kind and horizon.
    early_stopping_rounds : int, default 20
        With a ``valid`` frame in `fit`: a model stops once its validation loss has not
        improved for this many trees, and keeps the trees up to its best score.
    return_stopping : {"loss", "rank_ic"}, default "loss"
        What the return model's early stopping watches (`ReturnStopping`): its validation
        loss, or the mean daily rank IC of its validation predictions (``valid`` then needs
        ``date``). The other two models always stop on their loss.
    normalize : {"none", "cs_rank", "cs_robust_zscore"}, default "none"
        Each feature rescaled within each date of the frame given, over that date's rows
        with a finite value (`Normalize`): ``cs_rank`` is ``(pct - 0.5) * 3.46`` with
        ``pct = (rank - 1) / (n - 1)`` of the average rank; ``cs_robust_zscore`` is
        ``(x - median) / (1.4826 * MAD)`` clipped to [-3, 3], 0 on a date whose MAD is 0.
        ``fit`` and ``predict`` normalise alike; frames should hold every ticker of a date.
    fill : {"none", "zero"}, default "none"
        Missing feature values (null, NaN, +/-inf) after normalising: left missing for
        the trees, or 0 (`FillMissing`).
    feature_columns : sequence of str, optional
        Default `HEAD_FEATURES`.
    n_jobs : int
        Threads of the tree library.
    seed : int
        Same data, parameters and seed give the same trees (LightGBM's
        ``deterministic=True``; XGBoost's ``hist`` is deterministic on a CPU) and the same
        synthetic rows.

    Attributes
    ----------
    boosters_ : dict of str -> lightgbm.Booster or xgboost.Booster
        The three models by output column, cut to their chosen number of trees; what
        `predict` uses.
    best_iterations_ : dict of str -> int
        Trees in each booster, by output column: the early-stopping choice when `fit` had a
        ``valid`` frame, else the number trained (as asked, unless LightGBM ran out of
        splits). `refit` reuses them.
    valid_scores_ : dict of str -> float
        Validation loss of each model at its best iteration (binary log loss; l2, the mean
        squared error; Huber, or pseudo-Huber with XGBoost), for the return model the mean
        daily rank IC with ``return_stopping="rank_ic"``; empty without a ``valid`` frame.
    huber_deltas_ : dict of str -> float
        The delta each regressor used (``loss="huber"``); empty with l2.
    feature_names_ : list of str
    n_features_in_ : int
    n_rows_fitted_ : int
        Rows with every target defined that the models were fitted on.
    n_rows_synthetic_ : int
        Synthetic rows ``sampling`` added to the classifier's fitting rows (0 with
        ``"none"``).
    n_rows_valid_ : int
        Validation rows with every target defined (0 without a ``valid`` frame).
    n_infinite_replaced_ : int
    base_rate_ : float
        Share of rebounds among the fitted rows.

    Examples
    --------
    Early stopping on a validation block of later dates (separated from the fitted dates by
    at least the target horizon), then the same tree counts on every date::

        head = MultiTaskHead(target="excess").fit(early, valid=late)
        final = head.refit(every_date)
    """

    def __init__(
        self,
        *,
        n_estimators: int = 600,
        learning_rate: float = 0.1,
        num_leaves: int = 31,
        min_child_samples: int = 100,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
        reg_alpha: float = 0.0,
        max_depth: int = -1,
        target: str = "raw",
        loss: str = "l2",
        huber_delta: float | None = None,
        early_stopping_rounds: int = 20,
        return_stopping: str = "loss",
        normalize: str = "none",
        fill: str = "none",
        model: str = DEFAULT_BACKEND,
        sampling: str = "none",
        feature_columns: Sequence[str] | None = None,
        n_jobs: int = 2,
        seed: int = 0,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.reg_alpha = reg_alpha
        self.max_depth = max_depth
        self.target = target
        self.loss = loss
        self.huber_delta = huber_delta
        self.early_stopping_rounds = early_stopping_rounds
        self.return_stopping = return_stopping
        self.normalize = normalize
        self.fill = fill
        self.model = model
        self.sampling = sampling
        self.feature_columns = feature_columns
        self.n_jobs = n_jobs
        self.seed = seed

    # --- parameters ---------------------------------------------------------------------------

    def _validate_params(self) -> None:
        """Raise a `ConfigError` naming the first parameter out of its range."""
        for name, minimum in (
            ("n_estimators", 1),
            ("num_leaves", 2),
            ("min_child_samples", 1),
            ("early_stopping_rounds", 1),
        ):
            check_int(name, getattr(self, name), minimum)
        if self.max_depth != -1:
            check_int("max_depth", self.max_depth, 1)
        rules: tuple[tuple[str, Callable[[float], bool], str], ...] = (
            ("learning_rate", lambda v: v > 0, "> 0"),
            ("subsample", lambda v: 0 < v <= 1, "in (0, 1]"),
            ("colsample_bytree", lambda v: 0 < v <= 1, "in (0, 1]"),
            ("reg_lambda", lambda v: v >= 0, ">= 0"),
            ("reg_alpha", lambda v: v >= 0, ">= 0"),
            ("huber_delta", lambda v: v > 0, "None or > 0"),
        )
        for name, ok, rule in rules:
            value = getattr(self, name)
            if name == "huber_delta" and value is None:
                continue
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not (number and math.isfinite(value) and ok(value)):
                msg = f"`{name}` must be {rule}, got `{name}={value!r}`"
                raise ConfigError(msg)
        self._choice("target", ReturnTarget)
        self._choice("loss", RegressionLoss)
        self._choice("return_stopping", ReturnStopping)
        self._choice("normalize", Normalize)
        self._choice("fill", FillMissing)
        head_backend(self.model)
        check_choice("sampling", self.sampling, HEAD_SAMPLERS)
        if self.sampling != "none":
            import_extra("imblearn", needed_by=f"`sampling={self.sampling!r}`")

    def _choice(self, name: str, kind: type[StrEnum]) -> StrEnum:
        value = getattr(self, name)
        try:
            return kind(value)
        except ValueError:
            options = ", ".join(repr(k.value) for k in kind)
            msg = f"`{name}` must be one of {options}, got `{name}={value!r}`"
            raise ConfigError(msg) from None

    def _tree_params(self) -> TreeParams:
        """The tree parameters the three models share."""
        return TreeParams(
            learning_rate=self.learning_rate,
            num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples,
            subsample=self.subsample,
            colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda,
            reg_alpha=self.reg_alpha,
            max_depth=self.max_depth,
            n_jobs=self.n_jobs,
            seed=self.seed,
        )

    def _backend(self) -> HeadBackend:
        return head_backend(self.model)

    def _tree_counts(self, n_estimators_by_output: Mapping[str, int] | None) -> dict[str, int]:
        given = dict(n_estimators_by_output or {})
        unknown = sorted(set(given) - set(PRED_COLUMNS))
        if unknown:
            msg = (
                f"`n_estimators_by_output` keys must be output columns {list(PRED_COLUMNS)}, "
                f"got {unknown}"
            )
            raise ConfigError(msg)
        for name, count in given.items():
            check_int(f"n_estimators_by_output[{name!r}]", count, 1)
        return {name: int(given.get(name, self.n_estimators)) for name in PRED_COLUMNS}

    # --- fit ----------------------------------------------------------------------------------

    def _matrix(self, frame: pl.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, int]:
        """Float64 feature matrix with null/NaN/inf as NaN, and how many infs were replaced."""
        x = frame.select(pl.col(list(columns)).cast(pl.Float64)).to_numpy(order="c")
        infinite = np.isinf(x)
        n_inf = int(infinite.sum())
        if n_inf:
            x[infinite] = np.nan
        return x, n_inf

    def _per_date(self) -> bool:
        return Normalize(self.normalize) is not Normalize.NONE

    @property
    def cross_sectional(self) -> bool:
        """True where `predict` needs every ticker of a date at once (a normalisation across
        tickers); otherwise each row is predicted on its own."""
        return self._per_date()

    def _transforms(self) -> bool:
        return (Normalize(self.normalize), FillMissing(self.fill)) != (
            Normalize.NONE,
            FillMissing.NONE,
        )

    def _prepared(self, data: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
        """``data`` with ``columns`` normalised per date and filled as ``normalize`` and
        ``fill`` say: the one place the head's inputs are transformed, for fit, validation
        and predict alike. With both ``"none"``, ``data`` as it is."""
        if not self._transforms():
            return data
        return data.with_columns(
            normalised(list(columns), Normalize(self.normalize), FillMissing(self.fill))
        )

    def _rows(
        self,
        frame: pl.DataFrame | pl.LazyFrame,
        columns: Sequence[str],
        *,
        what: str,
        dated: bool = False,
    ) -> pl.DataFrame:
        """Features and the three model targets of the rows whose targets are all defined,
        and with ``dated`` their ``date``.

        The return target and the normalised features are computed on all of ``frame``
        first, so that a date's cross-section is every row of that date, before any row is
        dropped. When the features are transformed, the rows carry `_N_INFINITE` too."""
        data = frame.lazy()
        transforms = self._transforms()
        needed = [*columns, *HEAD_TARGETS, *return_target_inputs(self.target)]
        require_columns(
            data,
            list(dict.fromkeys([*needed, *([DATE] if self._per_date() or dated else [])])),
            needed_by=f"the multi-task head ({what})",
            hint="add features, state probabilities and targets first",
        )
        learned = list(_LEARNS.values())
        data = data.with_columns(return_target(self.target).alias(RET_TARGET))
        counted: list[str] = []
        if transforms:
            infinite = (pl.col(c).cast(pl.Float64).is_infinite() for c in columns)
            data = data.with_columns(pl.sum_horizontal(infinite).alias(_N_INFINITE))
            counted = [_N_INFINITE]
        return (
            self._prepared(data, columns)
            .select(*columns, *learned, *counted, *([DATE] if dated else []))
            .drop_nulls(learned)
            .collect()
        )

    def _objective(self, name: str, y: np.ndarray) -> Objective:
        """The loss of output ``name`` (with its Huber delta)."""
        if name == _REBOUND:
            return Objective(ObjectiveKind.BINARY)
        if RegressionLoss(self.loss) is RegressionLoss.L2:
            return Objective(ObjectiveKind.L2)
        delta = _huber_delta(y) if self.huber_delta is None else float(self.huber_delta)
        return Objective(ObjectiveKind.HUBER, delta)

    def fit(
        self,
        frame: pl.DataFrame | pl.LazyFrame,
        *,
        valid: pl.DataFrame | pl.LazyFrame | None = None,
        n_estimators_by_output: Mapping[str, int] | None = None,
    ) -> MultiTaskHead:
        """Fit the three models on the rows of ``frame`` whose targets are all defined.

        Parameters
        ----------
        frame : pl.DataFrame or pl.LazyFrame
            `HEAD_FEATURES` (or ``feature_columns``), the targets ``label_rebound_bin``,
            ``future_ret_pct``, ``future_dd_pct`` (`m002.labels.compute_future_returns`) and
            what ``target`` reads besides (`m002.labels.return_target_inputs`: ``date``;
            ``volatility_20`` and ``target_horizon`` for ``vol_scaled_excess``; ``date``
            for a ``normalize`` other than ``"none"``). Every ticker of a date should be in
            it: the cross-sectional targets and normalisation are per date.
        valid : pl.DataFrame or pl.LazyFrame, optional
            The same columns on later dates, at least the target horizon after the last date
            of ``frame`` (the caller purges; the head cannot). Each model then stops early on
            it (``early_stopping_rounds``) and keeps its best number of trees.
        n_estimators_by_output : mapping of str -> int, optional
            Trees (the most, with ``valid``) per output column of `PRED_COLUMNS`, in place
            of ``n_estimators``; outputs not named keep ``n_estimators``. `refit` passes
            ``best_iterations_`` here.

        Returns
        -------
        self

        Raises
        ------
        ConfigError
            If a parameter is out of range, ``n_estimators_by_output`` names an unknown
            output or a count below 1, or ``model`` or ``sampling`` needs a package that is
            not installed.
        SchemaError
            If a column is missing, no row (or no validation row) has every target, the
            fitted rows hold a single rebound class, or ``sampling`` finds too few complete
            rebound rows to make rows from.
        """
        self._validate_params()
        backend = self._backend()
        trees = self._tree_counts(n_estimators_by_output)
        columns = list(self.feature_columns or HEAD_FEATURES)
        rows = self._rows(frame, columns, what="fit rows")
        if rows.height == 0:
            msg = "no row with all head targets defined: cannot fit the multi-task head"
            raise SchemaError(msg)
        x, n_inf = self._matrix(rows, columns)
        if _N_INFINITE in rows.columns:
            n_inf += int(rows[_N_INFINITE].sum())
        targets = {name: rows[column].to_numpy() for name, column in _LEARNS.items()}
        targets[_REBOUND] = targets[_REBOUND].astype(np.int64)
        if np.unique(targets[_REBOUND]).size < 2:
            msg = "`label_rebound_bin` has a single class in the fitted rows; cannot fit"
            raise SchemaError(msg)
        checked: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        stop_scores: dict[str, StopScore] = {}
        n_valid = 0
        if valid is not None:
            by_rank = ReturnStopping(self.return_stopping) is ReturnStopping.RANK_IC
            held = self._rows(valid, columns, what="validation rows", dated=by_rank)
            if held.height == 0:
                msg = (
                    "no row of `valid` has all head targets defined: "
                    "cannot stop the multi-task head early on it"
                )
                raise SchemaError(msg)
            xv, _ = self._matrix(held, columns)
            checked = {name: (xv, held[column].to_numpy()) for name, column in _LEARNS.items()}
            if by_rank:
                _check_ranked_dates(held[DATE])
                stop_scores[_RET] = _mean_rank_ic(held[DATE], checked[_RET][1])
            n_valid = held.height

        # the sampler sees the fitting rows only: `valid` is another frame, never passed here
        x_new, y_new = HEAD_SAMPLERS[self.sampling](x, targets[_REBOUND], self.seed)
        fitting = {name: (x, targets[name]) for name in PRED_COLUMNS}
        if y_new.size:
            fitting[_REBOUND] = (np.vstack([x, x_new]), np.concatenate([targets[_REBOUND], y_new]))

        boosters: dict[str, Any] = {}
        best_iterations: dict[str, int] = {}
        valid_scores: dict[str, float] = {}
        huber_deltas: dict[str, float] = {}
        tree_params = self._tree_params()
        for name in PRED_COLUMNS:
            objective = self._objective(name, targets[name])
            if objective.huber_delta is not None:
                huber_deltas[name] = objective.huber_delta
            grown = backend.train(
                tree_params,
                objective,
                *fitting[name],
                feature_names=columns,
                rounds=trees[name],
                valid=checked.get(name),
                early_stopping_rounds=self.early_stopping_rounds,
                stop_score=stop_scores.get(name),
            )
            boosters[name] = grown.model
            best_iterations[name] = grown.n_trees
            if grown.valid_score is not None:
                valid_scores[name] = grown.valid_score
        # learned state is set only once every model is fitted: a failed fit changes nothing
        self.boosters_ = boosters
        self.best_iterations_ = best_iterations
        self.valid_scores_ = valid_scores
        self.huber_deltas_ = huber_deltas
        self.feature_names_ = columns
        self.n_features_in_ = len(columns)
        self.n_rows_fitted_ = rows.height
        self.n_rows_synthetic_ = int(y_new.size)
        self.n_rows_valid_ = n_valid
        self.n_infinite_replaced_ = n_inf
        self.base_rate_ = float(targets[_REBOUND].mean())
        return self

    def refit(self, frame: pl.DataFrame | pl.LazyFrame) -> MultiTaskHead:
        """A new head with these parameters, fitted on ``frame`` with ``best_iterations_``
        trees per model and no early stopping.

        After ``fit(early, valid=late)`` chose the tree counts on a purged validation block,
        ``refit(every_date)`` trains the model that is used on all the rows, without a
        held-out block for it to ignore. ``self`` is left as it is.

        Raises
        ------
        NotFittedError
            If this head is not fitted (or loaded).
        """
        self._check_fitted()
        head: MultiTaskHead = clone(self)
        return head.fit(frame, n_estimators_by_output=dict(self.best_iterations_))

    # --- use ----------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "boosters_"):
            msg = (
                "this MultiTaskHead is not fitted yet: call `fit(frame)` or "
                "`MultiTaskHead.load(path)` first"
            )
            raise NotFittedError(msg)

    def predict(self, frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
        """``ticker``, ``date`` and the three predictions for every row of ``frame``.

        ``pred_rebound_prob`` is a probability; ``pred_expected_dd_pct`` is in percent, like
        its target; ``pred_expected_ret_pct`` is in the units of the ``target`` the return
        model learned: percent for ``raw`` and ``excess``, a unit-free cross-sectional score
        for ``vol_scaled_excess`` and ``rank``.

        With ``normalize``, each date's features are normalised over that date's rows of
        ``frame``, as in `fit`: give it every ticker of a date.
        """
        self._check_fitted()
        data = frame.lazy()
        require_columns(
            data,
            [TICKER, DATE, *self.feature_names_],
            needed_by="the fitted multi-task head",
            hint="give it the frame the pipeline builds (features + state_prob_*)",
        )
        rows = (
            self._prepared(data, self.feature_names_)
            .select(TICKER, DATE, *self.feature_names_)
            .collect()
        )
        x, _ = self._matrix(rows, self.feature_names_)
        backend = self._backend()
        predictions = {
            name: backend.predict(booster, x, n_jobs=self.n_jobs) if x.shape[0] else np.empty(0)
            for name, booster in self.boosters_.items()
        }
        return rows.select(TICKER, DATE).with_columns(
            pl.Series(name, values, dtype=pl.Float64) for name, values in predictions.items()
        )

    def feature_importance(self) -> pl.DataFrame:
        """Gain importance of each feature in each of the three models: the total gain of
        the feature's splits, for either ``model``."""
        self._check_fitted()
        backend = self._backend()
        return pl.DataFrame(
            {
                "feature": self.feature_names_,
                **{
                    name: backend.gain(booster, self.n_features_in_)
                    for name, booster in self.boosters_.items()
                },
            }
        )

    # --- files --------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write the three boosters in their library's own format (LightGBM's text, XGBoost's
        JSON) and ``head_meta.json``.

        Each file is written beside its name and renamed into place; the meta file
        (``format_version`` 2) holds the parameters, ``model`` among them, the feature names
        and the fitted attributes, ``best_iterations`` among them (`m002.head._saved`
        describes the folder).
        """
        self._check_fitted()
        params = {
            **self.get_params(),
            "target": str(self.target),
            "loss": str(self.loss),
            "normalize": str(self.normalize),
            "fill": str(self.fill),
            "model": str(self.model),
            "sampling": str(self.sampling),
            "feature_columns": list(self.feature_names_),
        }
        fitted = {
            "params": params,
            "feature_names": self.feature_names_,
            "n_rows_fitted": self.n_rows_fitted_,
            "n_rows_synthetic": self.n_rows_synthetic_,
            "n_rows_valid": self.n_rows_valid_,
            "n_infinite_replaced": self.n_infinite_replaced_,
            "base_rate": self.base_rate_,
            "best_iterations": self.best_iterations_,
            "valid_scores": self.valid_scores_,
            "huber_deltas": self.huber_deltas_,
        }
        return write_head(Path(path), self._backend(), self.boosters_, fitted)

    @classmethod
    def load(cls, path: str | Path) -> MultiTaskHead:
        """Load a head written by `save`, of this version or an earlier one.

        A head saved before ``format_version`` 2 (fixed tree counts, ``raw`` target, l2 loss)
        loads with those parameters and ``best_iterations_`` counted from its boosters; one
        saved before m002 had ``model`` and ``sampling`` loads as ``"lightgbm"`` and
        ``"none"``.

        Raises
        ------
        FileNotFoundError
            If the meta file or a booster file is missing.
        DamagedFileError
            If the meta file is not valid JSON, lacks a field, holds a parameter (or a
            ``model``) this version does not know, or has a ``format_version`` newer than
            this version reads.
        ConfigError
            If the head is an XGBoost head and XGBoost is not installed.
        """
        boosters, meta = read_head(Path(path), cls._get_param_names())
        head = cls(**meta["params"])
        head.boosters_ = boosters
        head.feature_names_ = list(meta["feature_names"])
        head.n_features_in_ = len(head.feature_names_)
        head.n_rows_fitted_ = int(meta["n_rows_fitted"])
        head.n_rows_synthetic_ = int(meta["n_rows_synthetic"])
        head.n_rows_valid_ = int(meta["n_rows_valid"])
        head.n_infinite_replaced_ = int(meta["n_infinite_replaced"])
        head.base_rate_ = float(meta["base_rate"])
        head.best_iterations_ = {k: int(v) for k, v in meta["best_iterations"].items()}
        head.valid_scores_ = dict(meta["valid_scores"])
        head.huber_deltas_ = {k: float(v) for k, v in meta["huber_deltas"].items()}
        return head
