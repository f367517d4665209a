"""Layer 2: the LightGBM multi-task head (spec section 3).

One binary classifier for ``label_rebound_bin`` and one regressor per continuous target
(``future_ret_pct``, ``future_dd_pct``, as sklearn's ``MultiOutputRegressor`` does it), all on
`HEAD_FEATURES`: the scale-free m002 features plus the layer-1 ``state_prob_*`` columns.

Missing values: null and NaN features are passed to LightGBM as NaN, which it treats as
missing (each split learns which side missing values go to); +/-inf, which no feature should
produce but a user frame might, is turned into NaN as well and counted in
``n_infinite_replaced_``. Nothing is imputed with a made-up number. Rows with a null target
are not fitted on (they are the last ``horizon`` rows of each ticker).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import lightgbm as lgb
import numpy as np
import polars as pl
from sklearn.base import BaseEstimator
from sklearn.multioutput import MultiOutputRegressor

from m002 import __version__
from m002._schema import DATE, TICKER, require_columns
from m002.exceptions import ConfigError, NotFittedError, SchemaError
from m002.regime import DEFAULT_SEQUENCE_FEATURES, state_prob_columns

__all__ = [
    "HEAD_FEATURES",
    "HEAD_TARGETS",
    "PRED_COLUMNS",
    "MultiTaskHead",
]

HEAD_FEATURES: Final[tuple[str, ...]] = (*DEFAULT_SEQUENCE_FEATURES, *state_prob_columns())
HEAD_TARGETS: Final = ("label_rebound_bin", "future_ret_pct", "future_dd_pct")
PRED_COLUMNS: Final = ("pred_rebound_prob", "pred_expected_ret_pct", "pred_expected_dd_pct")
_BOOSTER_FILES: Final = {
    "pred_rebound_prob": "head_rebound.txt",
    "pred_expected_ret_pct": "head_ret.txt",
    "pred_expected_dd_pct": "head_dd.txt",
}
_META_FILE: Final = "head_meta.json"


class MultiTaskHead(BaseEstimator):  # type: ignore[misc]
    """Rebound probability, expected return and expected drawdown from one feature matrix.

    Parameters
    ----------
    n_estimators : int
        Trees per model (spec: 600).
    learning_rate, num_leaves, min_child_samples, subsample, colsample_bytree, reg_lambda
        LightGBM parameters shared by the three models.
    feature_columns : sequence of str, optional
        Default `HEAD_FEATURES`.
    n_jobs : int
        LightGBM threads.
    seed : int
        Same data, parameters and seed give the same trees (``deterministic=True``).

    Attributes
    ----------
    classifier_ : lightgbm.LGBMClassifier
    regressor_ : sklearn.multioutput.MultiOutputRegressor
        Present after `fit` (not after `load`, which restores the boosters only).
    boosters_ : dict of str -> lightgbm.Booster
        The three fitted models by output column; what `predict` uses.
    feature_names_ : list of str
    n_features_in_ : int
    n_rows_fitted_ : int
    n_infinite_replaced_ : int
    """

    def __init__(
        self,
        *,
        n_estimators: int = 600,
        learning_rate: float = 0.03,
        num_leaves: int = 31,
        min_child_samples: int = 100,
        subsample: float = 0.8,
        colsample_bytree: float = 0.8,
        reg_lambda: float = 1.0,
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
        self.feature_columns = feature_columns
        self.n_jobs = n_jobs
        self.seed = seed

    def _lgb_params(self) -> dict[str, Any]:
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "subsample": self.subsample,
            "subsample_freq": 1 if self.subsample < 1.0 else 0,
            "colsample_bytree": self.colsample_bytree,
            "reg_lambda": self.reg_lambda,
            "n_jobs": self.n_jobs,
            "random_state": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbose": -1,
        }

    def _validate_params(self) -> None:
        checks = {
            "n_estimators": (self.n_estimators >= 1, ">= 1"),
            "learning_rate": (self.learning_rate > 0, "> 0"),
            "num_leaves": (self.num_leaves >= 2, ">= 2"),
            "min_child_samples": (self.min_child_samples >= 1, ">= 1"),
            "subsample": (0 < self.subsample <= 1, "in (0, 1]"),
            "colsample_bytree": (0 < self.colsample_bytree <= 1, "in (0, 1]"),
            "reg_lambda": (self.reg_lambda >= 0, ">= 0"),
        }
        for name, (ok, rule) in checks.items():
            if not ok:
                msg = f"`{name}` must be {rule}, got `{name}={getattr(self, name)!r}`"
                raise ConfigError(msg)

    def _matrix(self, frame: pl.DataFrame, columns: Sequence[str]) -> tuple[np.ndarray, int]:
        """Float64 feature matrix with null/NaN/inf as NaN, and how many infs were replaced."""
        x = frame.select(pl.col(list(columns)).cast(pl.Float64)).to_numpy(order="c")
        infinite = np.isinf(x)
        n_inf = int(infinite.sum())
        if n_inf:
            x[infinite] = np.nan
        return x, n_inf

    def fit(self, frame: pl.DataFrame | pl.LazyFrame) -> MultiTaskHead:
        """Fit the three models on the rows of ``frame`` whose targets are all defined.

        Parameters
        ----------
        frame : pl.DataFrame or pl.LazyFrame
            `HEAD_FEATURES` (or ``feature_columns``) and the targets ``label_rebound_bin``,
            ``future_ret_pct``, ``future_dd_pct`` (`m002.labels.compute_future_returns`).

        Returns
        -------
        self
        """
        self._validate_params()
        columns = list(self.feature_columns or HEAD_FEATURES)
        data = frame.lazy()
        require_columns(
            data,
            [*columns, *HEAD_TARGETS],
            needed_by="the multi-task head",
            hint="add features, state probabilities and targets first",
        )
        rows = data.select(*columns, *HEAD_TARGETS).drop_nulls(list(HEAD_TARGETS)).collect()
        if rows.height == 0:
            msg = "no row with all head targets defined: cannot fit the multi-task head"
            raise SchemaError(msg)
        x, n_inf = self._matrix(rows, columns)
        y_bin = rows["label_rebound_bin"].cast(pl.Int64).to_numpy()
        if np.unique(y_bin).size < 2:
            msg = "`label_rebound_bin` has a single class in the fitted rows; cannot fit"
            raise SchemaError(msg)
        y_reg = rows.select("future_ret_pct", "future_dd_pct").to_numpy()
        params = self._lgb_params()
        self.classifier_ = lgb.LGBMClassifier(objective="binary", **params)
        self.classifier_.fit(x, y_bin, feature_name=columns)
        self.regressor_ = MultiOutputRegressor(lgb.LGBMRegressor(objective="regression", **params))
        self.regressor_.fit(x, y_reg, feature_name=columns)
        self.boosters_ = {
            "pred_rebound_prob": self.classifier_.booster_,
            "pred_expected_ret_pct": self.regressor_.estimators_[0].booster_,
            "pred_expected_dd_pct": self.regressor_.estimators_[1].booster_,
        }
        self.feature_names_ = columns
        self.n_features_in_ = len(columns)
        self.n_rows_fitted_ = rows.height
        self.n_infinite_replaced_ = n_inf
        self.base_rate_ = float(y_bin.mean())
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "boosters_"):
            msg = (
                "this MultiTaskHead is not fitted yet: call `fit(frame)` or "
                "`MultiTaskHead.load(path)` first"
            )
            raise NotFittedError(msg)

    def predict(self, frame: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
        """``ticker``, ``date`` and the three predictions for every row of ``frame``.

        ``pred_rebound_prob`` is a probability; ``pred_expected_ret_pct`` and
        ``pred_expected_dd_pct`` are in percent, like the targets.
        """
        self._check_fitted()
        data = frame.lazy()
        require_columns(
            data,
            [TICKER, DATE, *self.feature_names_],
            needed_by="the fitted multi-task head",
            hint="give it the frame the pipeline builds (features + state_prob_*)",
        )
        rows = data.select(TICKER, DATE, *self.feature_names_).collect()
        x, _ = self._matrix(rows, self.feature_names_)
        predictions = {
            name: booster.predict(x) if x.shape[0] else np.empty(0)
            for name, booster in self.boosters_.items()
        }
        return rows.select(TICKER, DATE).with_columns(
            pl.Series(name, values, dtype=pl.Float64) for name, values in predictions.items()
        )

    def feature_importance(self) -> pl.DataFrame:
        """Gain importance of each feature in each of the three models."""
        self._check_fitted()
        return pl.DataFrame(
            {
                "feature": self.feature_names_,
                **{
                    name: booster.feature_importance(importance_type="gain")
                    for name, booster in self.boosters_.items()
                },
            }
        )

    def save(self, path: str | Path) -> Path:
        """Write the three boosters in LightGBM's text format and ``head_meta.json``."""
        self._check_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        for name, booster in self.boosters_.items():
            booster.save_model(folder / _BOOSTER_FILES[name])
        params = {**self.get_params(), "feature_columns": list(self.feature_names_)}
        meta = {
            "m002_version": __version__,
            "lightgbm_version": lgb.__version__,
            "params": params,
            "feature_names": self.feature_names_,
            "n_rows_fitted": self.n_rows_fitted_,
            "n_infinite_replaced": self.n_infinite_replaced_,
            "base_rate": self.base_rate_,
        }
        (folder / _META_FILE).write_text(json.dumps(meta, indent=2))
        return folder

    @classmethod
    def load(cls, path: str | Path) -> MultiTaskHead:
        """Load a head written by `save`."""
        folder = Path(path)
        for name in (_META_FILE, *_BOOSTER_FILES.values()):
            if not (folder / name).is_file():
                msg = f"{folder} is not a saved MultiTaskHead: {name} is missing"
                raise FileNotFoundError(msg)
        meta = json.loads((folder / _META_FILE).read_text())
        head = cls(**meta["params"])
        head.boosters_ = {
            name: lgb.Booster(model_file=folder / file) for name, file in _BOOSTER_FILES.items()
        }
        head.feature_names_ = list(meta["feature_names"])
        head.n_features_in_ = len(head.feature_names_)
        head.n_rows_fitted_ = int(meta["n_rows_fitted"])
        head.n_infinite_replaced_ = int(meta["n_infinite_replaced"])
        head.base_rate_ = float(meta["base_rate"])
        return head
