"""The libraries that grow the head's trees, by name: ``lightgbm`` (default) and ``xgboost``.

A backend trains one model (one output of the head) on a float64 matrix whose missing values
are NaN, optionally stopping early on a validation matrix, and predicts, scores feature gain,
saves and loads such models. `MultiTaskHead` says what to learn (`TreeParams`, `Objective`);
the backend says it in its library's words. `HEAD_BACKENDS` is the registry; `head_backend`
gives one by name.

How the head's parameters map onto XGBoost (``tree_method="hist"``):

================== ===================================================================
head               XGBoost
================== ===================================================================
learning_rate      ``eta``
n_estimators       boosting rounds (one tree per round)
num_leaves         ``max_leaves`` with ``grow_policy="lossguide"``: trees grown best leaf
                   first up to that many leaves, as LightGBM's
max_depth          ``max_depth`` (-1, no limit, is XGBoost's 0)
min_child_samples  ``min_child_weight``, a least sum of hessians in a leaf rather than a
                   least number of rows: ``min_child_samples`` times the hessian of one
                   row at the start, which is 1 for l2 (so exactly a row count) and at
                   most 1 for pseudo-Huber (so at least that many rows), and
                   ``p (1 - p)`` for the classifier, ``p`` the share of positives among
                   its fitted rows (about ``min_child_samples`` rows at the start)
subsample          ``subsample`` (rows drawn anew for every tree, as LightGBM's bagging
                   with ``bagging_freq=1``)
colsample_bytree   ``colsample_bytree``
reg_lambda         ``lambda``
reg_alpha          ``alpha``
n_jobs, seed       ``nthread``, ``seed``
loss "l2"          ``reg:squarederror``, stopping on ``rmse``; ``valid_score`` is its
                   square, the mean squared error, as LightGBM's ``l2``
loss "huber"       ``reg:pseudohubererror`` with ``huber_slope`` the head's Huber delta,
                   stopping on ``mphe`` (the mean pseudo-Huber error, its score)
classifier         ``binary:logistic``, stopping on ``logloss``
a ``StopScore``    a ``custom_metric``, maximised, the default metric off (LightGBM: a
                   ``feval``, its ``metric`` "None"); ``valid_score`` is that score
================== ===================================================================

Missing values are XGBoost's own (``missing=NaN``: each split learns where they go), as
LightGBM's. A model kept after early stopping is cut to its best number of trees, so that
what is predicted, saved and counted agree; XGBoost's model is saved in its JSON format.
Gain importance is the total gain of a feature's splits in both libraries (LightGBM's
``feature_importance("gain")``, XGBoost's ``total_gain``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Final, Literal

import lightgbm as lgb
import numpy as np

from m002._checks import check_choice, import_extra

__all__ = [
    "DEFAULT_BACKEND",
    "HEAD_BACKENDS",
    "Grown",
    "HeadBackend",
    "LightGBMBackend",
    "Objective",
    "ObjectiveKind",
    "StopScore",
    "TreeParams",
    "XGBoostBackend",
    "head_backend",
]

DEFAULT_BACKEND: Final = "lightgbm"


@dataclass(frozen=True)
class TreeParams:
    """The tree parameters the head's three models share (`MultiTaskHead` documents them)."""

    learning_rate: float
    num_leaves: int
    min_child_samples: int
    subsample: float
    colsample_bytree: float
    reg_lambda: float
    reg_alpha: float
    max_depth: int
    n_jobs: int
    seed: int


class ObjectiveKind(StrEnum):
    """What one model of the head minimises."""

    BINARY = "binary"
    """Binary log loss (the rebound classifier)."""
    L2 = "l2"
    """Squared error."""
    HUBER = "huber"
    """Huber loss (LightGBM) or pseudo-Huber loss (XGBoost) with ``huber_delta``."""


@dataclass(frozen=True)
class Objective:
    """The loss of one model, and with ``HUBER`` where it turns from squared to linear."""

    kind: ObjectiveKind
    huber_delta: float | None = None


StopScore = Callable[[np.ndarray], float]
"""A score of a model's predictions on the validation rows, higher better, that early
stopping may watch in place of the loss (the head's per-date rank IC)."""
_STOP_SCORE: Final = "stop_score"
"""The name the libraries log a `StopScore` under."""


@dataclass(frozen=True)
class Grown:
    """A trained model, its number of trees and (with a validation matrix) its validation
    loss, or its `StopScore`, at that number."""

    model: Any
    n_trees: int
    valid_score: float | None


class HeadBackend(ABC):
    """One library's way of training, predicting, scoring, saving and loading a model.

    A backend lives for one head's fit, whose models train on the same rows (and validation
    rows): `_matrix` hands each of them the library's matrix of those rows made once,
    relabelled. Making it (LightGBM bins the rows, XGBoost sketches and indexes them for
    ``hist``) depends on the rows and the shared parameters only, and costs about a fifth
    of a model's training time; the models are the same bit for bit (tested)."""

    def __init__(self) -> None:
        # (rows, reference) -> (rows, their matrix); the rows are held, so ids are not reused
        self._matrices: dict[tuple[int, int], tuple[np.ndarray, Any]] = {}

    def _matrix(
        self, x: np.ndarray, y: np.ndarray, make: Callable[[], Any], *, reference: Any = None
    ) -> Any:
        """The matrix `make` builds for ``x`` (and ``reference``): the one made for this
        very ``x`` before, relabelled ``y``, or a new one."""
        key = (id(x), id(reference))
        held = self._matrices.get(key)
        if held is not None and held[0] is x:
            held[1].set_label(y)
            return held[1]
        matrix = make()
        self._matrices[key] = (x, matrix)
        return matrix

    name: ClassVar[str]
    """The name `HEAD_BACKENDS` knows it by (the head's ``model``)."""
    library: ClassVar[str]
    """The package it imports."""
    suffix: ClassVar[str]
    """The file extension of a saved model."""

    @abstractmethod
    def train(
        self,
        params: TreeParams,
        objective: Objective,
        x: np.ndarray,
        y: np.ndarray,
        *,
        feature_names: Sequence[str],
        rounds: int,
        valid: tuple[np.ndarray, np.ndarray] | None = None,
        early_stopping_rounds: int,
        stop_score: StopScore | None = None,
    ) -> Grown:
        """A model of ``rounds`` trees on ``(x, y)``; with ``valid``, grown until its loss
        on it (or ``stop_score`` of its predictions there, higher better, where given) has
        not improved for ``early_stopping_rounds`` trees and cut to its best.
        ``feature_names`` name the columns of ``x`` where the library keeps names in the
        model (LightGBM; XGBoost's models use its positional names ``f0, f1, ...``)."""

    @abstractmethod
    def predict(self, model: Any, x: np.ndarray, *, n_jobs: int) -> np.ndarray:
        """Predictions of ``model`` on ``x`` (probabilities for ``BINARY``)."""

    @abstractmethod
    def gain(self, model: Any, n_features: int) -> np.ndarray:
        """Total split gain of each of the ``n_features`` columns (0 for an unused one)."""

    @abstractmethod
    def n_trees(self, model: Any) -> int:
        """The number of trees in ``model``."""

    @abstractmethod
    def save(self, model: Any, path: Path) -> None:
        """Write ``model`` to ``path`` in the library's own format."""

    @abstractmethod
    def load(self, path: Path) -> Any:
        """The model `save` wrote to ``path``."""

    def version(self) -> str:
        """The version of the library."""
        return str(import_extra(self.library, needed_by=f"`model={self.name!r}`").__version__)


class LightGBMBackend(HeadBackend):
    """LightGBM boosters trained with ``lightgbm.train``, saved in its text format."""

    name = "lightgbm"
    library = "lightgbm"
    suffix = ".txt"

    def _dataset(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        feature_names: Sequence[str] | None = None,
        reference: Any = None,
    ) -> Any:
        """A LightGBM Dataset of ``x`` labelled ``y`` (`HeadBackend._matrix`)."""
        names: list[str] | Literal["auto"] = (
            "auto" if feature_names is None else list(feature_names)
        )

        def make() -> Any:
            return lgb.Dataset(x, y, feature_name=names, reference=reference, free_raw_data=False)

        return self._matrix(x, y, make, reference=reference)

    def _params(self, params: TreeParams, objective: Objective) -> dict[str, Any]:
        shared = {
            "learning_rate": params.learning_rate,
            "num_leaves": params.num_leaves,
            "min_data_in_leaf": params.min_child_samples,
            "bagging_fraction": params.subsample,
            "bagging_freq": 1 if params.subsample < 1.0 else 0,
            "feature_fraction": params.colsample_bytree,
            "lambda_l2": params.reg_lambda,
            "lambda_l1": params.reg_alpha,
            "max_depth": params.max_depth,
            "num_threads": params.n_jobs,
            "seed": params.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
        }
        if objective.kind is ObjectiveKind.BINARY:
            return {**shared, "objective": "binary", "metric": "binary_logloss"}
        if objective.kind is ObjectiveKind.L2:
            return {**shared, "objective": "regression", "metric": "l2"}
        return {**shared, "objective": "huber", "metric": "huber", "alpha": objective.huber_delta}

    def train(
        self,
        params: TreeParams,
        objective: Objective,
        x: np.ndarray,
        y: np.ndarray,
        *,
        feature_names: Sequence[str],
        rounds: int,
        valid: tuple[np.ndarray, np.ndarray] | None = None,
        early_stopping_rounds: int,
        stop_score: StopScore | None = None,
    ) -> Grown:
        settings = self._params(params, objective)
        data = self._dataset(x, y, feature_names=feature_names)
        if valid is None:
            booster = lgb.train(settings, data, num_boost_round=rounds)
            return Grown(booster, booster.current_iteration(), None)
        watched, feval = settings["metric"], None
        if stop_score is not None:  # the score alone: no built-in metric beside it
            settings, watched = {**settings, "metric": "None"}, _STOP_SCORE

            def feval(predictions: np.ndarray, _: Any) -> tuple[str, float, bool]:
                return _STOP_SCORE, stop_score(predictions), True

        stop = lgb.early_stopping(early_stopping_rounds, first_metric_only=True, verbose=False)
        grown = lgb.train(
            settings,
            data,
            num_boost_round=rounds,
            valid_sets=[self._dataset(valid[0], valid[1], reference=data)],
            valid_names=["valid"],
            feval=feval,
            callbacks=[stop],
        )
        best = grown.best_iteration
        kept = lgb.Booster(model_str=grown.model_to_string(num_iteration=best))
        return Grown(kept, best, float(grown.best_score["valid"][watched]))

    def predict(self, model: Any, x: np.ndarray, *, n_jobs: int) -> np.ndarray:
        return np.asarray(model.predict(x, num_threads=n_jobs), dtype=np.float64)

    def gain(self, model: Any, n_features: int) -> np.ndarray:
        return np.asarray(model.feature_importance(importance_type="gain"), dtype=np.float64)

    def n_trees(self, model: Any) -> int:
        return int(model.current_iteration())

    def save(self, model: Any, path: Path) -> None:
        model.save_model(path)

    def load(self, path: Path) -> Any:
        return lgb.Booster(model_file=path)


class XGBoostBackend(HeadBackend):
    """XGBoost boosters trained with ``xgboost.train`` (``hist``, leaf-wise), saved as JSON;
    the module docstring maps the parameters."""

    name = "xgboost"
    library = "xgboost"
    suffix = ".json"

    def _xgb(self) -> Any:
        return import_extra(self.library, needed_by=f"`model={self.name!r}`")

    def _dmatrix(self, x: np.ndarray, y: np.ndarray, n_jobs: int) -> Any:
        """An XGBoost DMatrix of ``x`` labelled ``y`` (`HeadBackend._matrix`)."""
        xgb = self._xgb()
        return self._matrix(x, y, lambda: xgb.DMatrix(x, y, missing=np.nan, nthread=n_jobs))

    def _params(self, params: TreeParams, objective: Objective, y: np.ndarray) -> dict[str, Any]:
        loss: dict[str, Any]
        if objective.kind is ObjectiveKind.BINARY:
            share = float(np.mean(y)) if y.size else 0.5
            loss = {"objective": "binary:logistic", "eval_metric": "logloss"}
            hessian = share * (1.0 - share)
        elif objective.kind is ObjectiveKind.L2:
            loss = {"objective": "reg:squarederror", "eval_metric": "rmse"}
            hessian = 1.0
        else:
            loss = {
                "objective": "reg:pseudohubererror",
                "eval_metric": "mphe",
                "huber_slope": objective.huber_delta,
            }
            hessian = 1.0
        return {
            **loss,
            "tree_method": "hist",
            "grow_policy": "lossguide",
            "max_leaves": params.num_leaves,
            "max_depth": max(params.max_depth, 0),
            "min_child_weight": params.min_child_samples * hessian,
            "eta": params.learning_rate,
            "subsample": params.subsample,
            "colsample_bytree": params.colsample_bytree,
            "lambda": params.reg_lambda,
            "alpha": params.reg_alpha,
            "nthread": params.n_jobs,
            "seed": params.seed,
            "verbosity": 0,
        }

    def train(
        self,
        params: TreeParams,
        objective: Objective,
        x: np.ndarray,
        y: np.ndarray,
        *,
        feature_names: Sequence[str],
        rounds: int,
        valid: tuple[np.ndarray, np.ndarray] | None = None,
        early_stopping_rounds: int,
        stop_score: StopScore | None = None,
    ) -> Grown:
        xgb = self._xgb()
        settings = self._params(params, objective, y)
        data = self._dmatrix(x, y, params.n_jobs)
        if valid is None:
            booster = xgb.train(settings, data, num_boost_round=rounds, verbose_eval=False)
            return Grown(booster, int(booster.num_boosted_rounds()), None)
        held = self._dmatrix(valid[0], valid[1], params.n_jobs)
        custom: dict[str, Any] = {}
        if stop_score is not None:  # the score alone: no built-in metric beside it
            settings = {k: v for k, v in settings.items() if k != "eval_metric"}
            settings["disable_default_eval_metric"] = 1

            def metric(predictions: np.ndarray, _: Any) -> tuple[str, float]:
                return _STOP_SCORE, stop_score(np.asarray(predictions, dtype=np.float64))

            custom = {"custom_metric": metric, "maximize": True}
        grown = xgb.train(
            settings,
            data,
            num_boost_round=rounds,
            evals=[(held, "valid")],
            early_stopping_rounds=early_stopping_rounds,
            verbose_eval=False,
            **custom,
        )
        best = int(grown.best_iteration) + 1
        kept = grown[:best]  # a slice is a new booster without the early-stopping attributes
        score = float(grown.best_score)
        if stop_score is not None:  # XGBoost logs it to 6 digits: the exact value instead
            score = stop_score(self.predict(kept, valid[0], n_jobs=params.n_jobs))
        elif objective.kind is ObjectiveKind.L2:
            score = score**2
        return Grown(kept, best, score)

    def predict(self, model: Any, x: np.ndarray, *, n_jobs: int) -> np.ndarray:
        model.set_param({"nthread": n_jobs})
        return np.asarray(model.inplace_predict(x, missing=np.nan), dtype=np.float64)

    def gain(self, model: Any, n_features: int) -> np.ndarray:
        # the matrices carry no names: XGBoost calls column i "f{i}" and omits unused ones
        total = model.get_score(importance_type="total_gain")
        return np.array([float(total.get(f"f{i}", 0.0)) for i in range(n_features)])

    def n_trees(self, model: Any) -> int:
        return int(model.num_boosted_rounds())

    def save(self, model: Any, path: Path) -> None:
        # written as bytes: XGBoost picks the format from a file's extension, a temporary
        # file's is not ".json"
        path.write_bytes(bytes(model.save_raw(raw_format="json")))

    def load(self, path: Path) -> Any:
        booster = self._xgb().Booster()
        booster.load_model(bytearray(path.read_bytes()))
        return booster


HEAD_BACKENDS: Final[dict[str, type[HeadBackend]]] = {
    LightGBMBackend.name: LightGBMBackend,
    XGBoostBackend.name: XGBoostBackend,
}
"""The head's tree libraries by the name its ``model`` parameter takes."""


def head_backend(name: object) -> HeadBackend:
    """The backend `HEAD_BACKENDS` names ``name``, its library imported.

    Raises
    ------
    ConfigError
        If ``name`` is not a key of `HEAD_BACKENDS` (naming them), or its library is not
        installed (naming ``pip install 'm002[experiments]'``).
    """
    check_choice("model", name, HEAD_BACKENDS)
    kind = HEAD_BACKENDS[str(name)]
    import_extra(kind.library, needed_by=f"`model={name!r}`")
    return kind()
