"""Layer-1 regime labels from a Gaussian hidden Markov model (spec 6, "HMM-based state
estimation"), fitted on training rows only.

`HMMLabeller` fits hmmlearn's ``GaussianHMM`` with five states to two feature columns of the
training rows: a daily log return (default ``log_ret_1``) and a volatility (default
``volatility_20``, the 20-row standard deviation of ``log_ret_1``: the same units as the
return, so a state reads as "this drift at this volatility"). Both come with the m002 feature
set and are causal; they are standardised with the training rows' mean and standard
deviation. Every ticker is a sequence of its own, and a row with a null (or non-finite) input
splits its ticker's sequence: the rows before and after it are two sequences (hmmlearn's
``lengths``), as are the filter and the smoother below.

States to regimes
-----------------
The HMM numbers its states arbitrarily (a refit, another seed or a permutation of the same
model would renumber them), so each fitted state gets its regime from its mean return ``r``
and mean volatility ``v`` (the state's Gaussian mean of the two inputs) by this rule:

1. EarlyUp: the state of highest ``r`` (a rising market).
2. LateDown: the state of lowest ``r`` (a falling one).
3. Of the three states in between, ordered by ``v``: the lowest is Accumulation (a quiet base),
   the middle one Peak (a top: still calm, returns turning) and the highest Distribution
   (churn at a high level: volatility up, returns flat or fading).

Ties in ``r`` are broken by ``v`` and ties in ``v`` by ``r``. The rule reads only the states'
parameters, so the labels do not depend on the order of the states; after the fit the
parameters are kept in regime order (state ``i`` is regime ``ID_TO_STATE[i]``).

Labels: a fixed-lag smoother
----------------------------
With ``pi`` the start probabilities, ``A`` the transition matrix and ``b_k(y)`` the density of
state ``k`` at observation ``y``, the forward filter is ``alpha_1(k) ~ pi_k b_k(y_1)`` and
``alpha_t(k) ~ b_k(y_t) sum_i alpha_(t-1)(i) A_ik`` (normalised over ``k``: ``alpha_t(k) =
p(s_t = k | y_1..t)``). The label of row ``t`` reads ``L`` = ``lookahead`` rows ahead, no more:

    p(s_t = k | y_1..t+L) ~ alpha_t(k) beta_t(k),
    beta_t = A (b(y_t+1) * A (b(y_t+2) * ... A (b(y_t+L) * 1)))

(``*`` elementwise; ``beta_t(k) = p(y_t+1..t+L | s_t = k)``). The label is the regime of
highest smoothed posterior, or "no state" (null state, ``regime_label_known`` true) where that
posterior is below ``min_posterior``; rows with a null input and the last ``L`` rows of each
sequence are unknown (``regime_label_known`` false). So the labels look ahead exactly ``L``
rows, recorded in ``regime_label_lookahead`` like those of the priority rules, and every purge
gap that covers the priority labels covers these. hmmlearn's ``predict`` / ``predict_proba``
(Viterbi, forward-backward) read the whole sequence and are not used.

As model inputs only the filtered probabilities ``alpha_t`` may serve
(`HMMLabeller.filter_probabilities`): they read rows up to ``t`` only. Both passes run in log
space from the fitted public parameters, vectorised over sequences (the forward pass steps
through time, all sequences at once) and over rows (the ``L`` steps of the smoother).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from m002._checks import import_extra
from m002._schema import DATE, TICKER, require_columns
from m002.exceptions import ConfigError, DamagedFileError, DataValidationError, NotFittedError
from m002.labels._regime import (
    _MAX_LOOKAHEAD,
    ID_TO_STATE,
    REGIME_LABEL_KNOWN,
    REGIME_LABEL_LOOKAHEAD,
    REGIME_STATE,
    REGIME_STATE_ID,
    STATE_TO_ID,
    RegimeLabelConfig,
    RegimeState,
    _check_range,
    check_hmm_params,
)

__all__ = [
    "FITTED_LABELLERS",
    "HMM_PROB_COLUMNS",
    "HMMLabeller",
    "fitted_labeller",
    "hmm_state_order",
]

logger = logging.getLogger("m002.labels")

N_STATES: Final = len(STATE_TO_ID)
HMM_PROB_COLUMNS: Final[Mapping[RegimeState, str]] = MappingProxyType(
    {RegimeState(name): f"hmm_prob_{name}" for name in STATE_TO_ID}
)
"""Column of each regime's forward-filtered probability (`HMMLabeller.filter_probabilities`),
in `STATE_TO_ID` order."""

_KIND: Final = "hmm"
_FORMAT: Final = 1
_MIN_FIT_ROWS: Final = 10 * N_STATES
_PARAMS: Final = (
    "lookahead",
    "return_feature",
    "volatility_feature",
    "n_iter",
    "covariance",
    "min_posterior",
    "seed",
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def hmm_state_order(means: npt.ArrayLike) -> IntArray:
    """The fitted state of each regime, by the rule of the module documentation.

    Parameters
    ----------
    means : array-like of shape (5, n_features)
        Each state's mean; column 0 is the return, column 1 the volatility (any increasing
        rescaling of either gives the same order).

    Returns
    -------
    np.ndarray of shape (5,)
        ``order[i]`` is the state that gets regime ``ID_TO_STATE[i]``.

    Examples
    --------
    >>> means = [[0.0, 1.0], [0.3, 0.5], [-0.4, 2.0], [0.1, 1.5], [0.05, 0.2]]
    >>> [ID_TO_STATE[i] for i in np.argsort(hmm_state_order(means))]
    ['Peak', 'EarlyUp', 'LateDown', 'Distribution', 'Accumulation']
    """
    m = np.asarray(means, dtype=np.float64)
    ret, vol = m[:, 0], m[:, 1]
    by_ret = np.lexsort((vol, ret))
    middle = by_ret[1:-1]
    quiet_to_busy = middle[np.lexsort((ret[middle], vol[middle]))]
    chosen = {
        RegimeState.EARLY_UP: by_ret[-1],
        RegimeState.LATE_DOWN: by_ret[0],
        RegimeState.ACCUMULATION: quiet_to_busy[0],
        RegimeState.PEAK: quiet_to_busy[1],
        RegimeState.DISTRIBUTION: quiet_to_busy[2],
    }
    return np.array([chosen[RegimeState(ID_TO_STATE[i])] for i in range(N_STATES)])


@dataclass(frozen=True)
class _Rows:
    """The rows of a frame sorted by (ticker, date), cut into sequences of valid rows.

    ``valid`` marks the rows (of all ``n`` rows) whose inputs are all finite; ``x`` holds those
    rows' inputs in row order, ``seq`` and ``pos`` each one's sequence and place in it,
    ``lengths`` and ``first`` each sequence's length and first index into ``x``.
    """

    valid: npt.NDArray[np.bool_]
    x: FloatArray
    seq: IntArray
    pos: IntArray
    lengths: IntArray
    first: IntArray


def _rows(frame: pl.DataFrame, columns: tuple[str, str]) -> _Rows:
    ticker = frame.get_column(TICKER).rle_id().to_numpy()
    x_all = frame.select(pl.col(c).cast(pl.Float64) for c in columns).to_numpy()
    valid = np.isfinite(x_all).all(axis=1)
    continues = np.zeros(len(valid), dtype=bool)
    continues[1:] = (ticker[1:] == ticker[:-1]) & valid[:-1]
    starts = valid & ~continues
    seq = (np.cumsum(starts) - 1)[valid].astype(np.int64)
    lengths = np.bincount(seq, minlength=int(starts.sum())).astype(np.int64)
    first = np.cumsum(lengths) - lengths
    pos = np.arange(len(seq), dtype=np.int64) - first[seq]
    return _Rows(valid, np.ascontiguousarray(x_all[valid]), seq, pos, lengths, first)


def _log_normalise(log_p: FloatArray) -> FloatArray:
    top = log_p.max(axis=1, keepdims=True)
    out: FloatArray = log_p - (top + np.log(np.exp(log_p - top).sum(axis=1, keepdims=True)))
    return out


def _log_matmul(log_p: FloatArray, matrix: FloatArray) -> FloatArray:
    """``log(exp(log_p) @ matrix)`` row by row, scaled so that nothing underflows."""
    top = log_p.max(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        out: FloatArray = np.log(np.exp(log_p - top) @ matrix) + top
    return out


def _forward(
    log_b: FloatArray, startprob: FloatArray, transmat: FloatArray, rows: _Rows
) -> FloatArray:
    """``log p(s_t | y_1..t)`` of every valid row, each sequence from its own start.

    One step per time index, all sequences at once: sequences are taken longest first, so
    the ones still running at step ``t`` are a prefix.
    """
    log_alpha = np.empty_like(log_b)
    if not len(log_b):
        return log_alpha
    order = np.argsort(-rows.lengths, kind="stable")
    first = rows.first[order]
    running = np.cumsum(np.bincount(rows.lengths)[::-1])[::-1]
    with np.errstate(divide="ignore"):
        log_pi = np.log(startprob)
    current = _log_normalise(log_pi + log_b[first])
    log_alpha[first] = current
    for t in range(1, int(rows.lengths.max())):
        at = first[: running[t + 1]] + t
        current = _log_normalise(log_b[at] + _log_matmul(current[: len(at)], transmat))
        log_alpha[at] = current
    return log_alpha


def _lookahead_factor(log_b: FloatArray, transmat: FloatArray, lookahead: int) -> FloatArray:
    """``log beta_t`` (up to a constant per row) of every valid row whose next ``lookahead``
    rows are in its sequence; other rows get numbers that mean nothing."""
    log_beta = np.zeros_like(log_b)
    last = len(log_b) - 1
    index = np.arange(len(log_b))
    for k in range(lookahead, 0, -1):
        ahead = log_b[np.minimum(index + k, last)]
        log_beta = _log_matmul(ahead + log_beta, transmat.T)
    return log_beta


class HMMLabeller:
    """Regime labels from a five-state Gaussian HMM: fitted on training rows, applied by a
    fixed-lag smoother that looks ``lookahead`` rows ahead (see the module documentation for
    the mapping of states to regimes and the formulas).

    Parameters
    ----------
    lookahead : int, default 5
        Rows ahead the labels read (>= 0), as in `RegimeLabelConfig`; ``0`` gives causal
        labels (the argmax of the forward filter).
    return_feature : str, default "log_ret_1"
        Feature column read as the daily return (its state means order the regimes).
    volatility_feature : str, default "volatility_20"
        Feature column read as the volatility (its state means order the three middle
        regimes).
    n_iter : int, default 100
        Most EM iterations of hmmlearn's fit.
    covariance : {"diag", "full", "spherical", "tied"}, default "diag"
        Covariance form of each state's Gaussian.
    min_posterior : float, default 0.5
        A known row whose largest smoothed posterior is below this gets "no state" (in
        [0, 1]).
    seed : int, default 0
        Seed of hmmlearn's initialisation; the same rows and seed give the same model, bit for
        bit.

    Attributes
    ----------
    startprob_, transmat_, means_, covars_ : np.ndarray
        The fitted HMM in regime order (state ``i`` is ``ID_TO_STATE[i]``), on standardised
        inputs; ``covars_`` as full matrices, shape (5, 2, 2).
    feature_mean_, feature_std_ : np.ndarray
        Mean and standard deviation (ddof 0) of the two inputs over the training rows.
    n_fit_rows_, n_fit_sequences_ : int
        Valid rows and sequences the model was fitted on.
    converged_ : bool
        Whether EM stopped before ``n_iter`` iterations.

    Examples
    --------
    >>> from m002.data import generate_synthetic
    >>> from m002.features import add_features
    >>> prices = generate_synthetic(n_tickers=2, n_days=300, seed=1).prices
    >>> frame = add_features(prices, "m002").collect()
    >>> labeller = HMMLabeller(lookahead=3).fit(frame)
    >>> labelled = labeller.assign(frame).collect()
    >>> labelled.select(REGIME_STATE, REGIME_STATE_ID, REGIME_LABEL_KNOWN).dtypes
    [String, Int8, Boolean]
    >>> labelled[REGIME_LABEL_LOOKAHEAD].unique().to_list()
    [3]
    """

    startprob_: FloatArray
    transmat_: FloatArray
    means_: FloatArray
    covars_: FloatArray
    feature_mean_: FloatArray
    feature_std_: FloatArray
    n_fit_rows_: int
    n_fit_sequences_: int
    converged_: bool

    def __init__(
        self,
        *,
        lookahead: int = 5,
        return_feature: str = "log_ret_1",
        volatility_feature: str = "volatility_20",
        n_iter: int = 100,
        covariance: str = "diag",
        min_posterior: float = 0.5,
        seed: int = 0,
    ) -> None:
        self.lookahead = lookahead
        self.return_feature = return_feature
        self.volatility_feature = volatility_feature
        self.n_iter = n_iter
        self.covariance = covariance
        self.min_posterior = min_posterior
        self.seed = seed

    @classmethod
    def from_config(cls, config: RegimeLabelConfig) -> HMMLabeller:
        """An unfitted labeller with ``config.lookahead`` and the ``hmm_*`` keys of ``config``
        (whatever its ``method``)."""
        return cls(
            lookahead=config.lookahead,
            return_feature=config.hmm_return_feature,
            volatility_feature=config.hmm_volatility_feature,
            n_iter=config.hmm_n_iter,
            covariance=config.hmm_covariance,
            min_posterior=config.hmm_min_posterior,
            seed=config.hmm_seed,
        )

    def get_params(self) -> dict[str, Any]:
        """The constructor's arguments."""
        return {name: getattr(self, name) for name in _PARAMS}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"HMMLabeller({args})"

    @property
    def feature_columns(self) -> tuple[str, str]:
        """The two input columns: return, then volatility."""
        return (self.return_feature, self.volatility_feature)

    # --- checks ---------------------------------------------------------------------------

    def _validate_params(self) -> None:
        if isinstance(self.lookahead, bool) or not isinstance(self.lookahead, int):
            msg = f"`lookahead` must be an int, got `lookahead={self.lookahead!r}`"
            raise ConfigError(msg)
        _check_range("lookahead", self.lookahead, 0, _MAX_LOOKAHEAD)
        check_hmm_params(
            prefix="",
            return_feature=self.return_feature,
            volatility_feature=self.volatility_feature,
            n_iter=self.n_iter,
            covariance=self.covariance,
            min_posterior=self.min_posterior,
            seed=self.seed,
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "transmat_"):
            msg = (
                "this HMMLabeller is not fitted yet: call `fit(training_rows)` or "
                "`HMMLabeller.from_dict(data)` first"
            )
            raise NotFittedError(msg)

    def _sorted(self, frame: pl.DataFrame | pl.LazyFrame, *, only_inputs: bool) -> pl.DataFrame:
        lazy = frame.lazy()
        require_columns(
            lazy,
            (TICKER, DATE, *self.feature_columns),
            needed_by="the HMM labeller",
            hint="build the features with `m002.features.build_dataset(..., 'm002')`",
        )
        if only_inputs:
            lazy = lazy.select(TICKER, DATE, *self.feature_columns)
        return lazy.sort(TICKER, DATE).collect()

    # --- fit ------------------------------------------------------------------------------

    def fit(self, frame: pl.DataFrame | pl.LazyFrame) -> HMMLabeller:
        """Fit the HMM on the rows given: pass training rows only.

        Parameters
        ----------
        frame : pl.DataFrame or pl.LazyFrame
            ``ticker``, ``date`` and the two input columns, in any order; rows with a null or
            non-finite input are left out and split their ticker's sequence.

        Returns
        -------
        HMMLabeller
            ``self``, fitted.

        Raises
        ------
        ConfigError
            If a parameter breaks its rule, or hmmlearn is not installed.
        SchemaError
            If an input column is missing.
        DataValidationError
            If fewer than 50 rows have both inputs, or an input is constant over them.
        """
        self._validate_params()
        gaussian_hmm = _gaussian_hmm_class()
        rows = _rows(self._sorted(frame, only_inputs=True), self.feature_columns)
        n_rows = len(rows.x)
        if n_rows < _MIN_FIT_ROWS:
            msg = (
                f"the HMM labeller needs at least {_MIN_FIT_ROWS} rows with both "
                f"{list(self.feature_columns)} to fit, got {n_rows}"
            )
            raise DataValidationError(msg, rule="too_few_rows")
        mean, std = rows.x.mean(axis=0), rows.x.std(axis=0)
        flat = [c for c, s in zip(self.feature_columns, std, strict=True) if not s > 0]
        if flat:
            msg = f"the HMM labeller cannot standardise {flat}: constant over the {n_rows} rows"
            raise DataValidationError(msg, rule="constant_feature")
        model = gaussian_hmm(
            n_components=N_STATES,
            covariance_type=self.covariance,
            n_iter=self.n_iter,
            random_state=self.seed,
        )
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        # one thread: the k-means start's OpenMP threads spin on a busy machine (0.3 s became
        # 5 s), and a fit that does not depend on the core count is the same in any worker
        with threadpool_limits(limits=1):
            model.fit((rows.x - mean) / std, rows.lengths)
        self._set_model(
            startprob=np.asarray(model.startprob_, dtype=np.float64),
            transmat=np.asarray(model.transmat_, dtype=np.float64),
            means=np.asarray(model.means_, dtype=np.float64),
            covars=np.asarray(model.covars_, dtype=np.float64),
            feature_mean=mean,
            feature_std=std,
        )
        self.n_fit_rows_ = n_rows
        self.n_fit_sequences_ = len(rows.lengths)
        self.converged_ = bool(model.monitor_.converged)
        logger.info(
            "HMM labeller fitted on %d rows in %d sequences (converged: %s)",
            n_rows,
            self.n_fit_sequences_,
            self.converged_,
        )
        return self

    def _set_model(
        self,
        *,
        startprob: FloatArray,
        transmat: FloatArray,
        means: FloatArray,
        covars: FloatArray,
        feature_mean: FloatArray,
        feature_std: FloatArray,
    ) -> None:
        """Keep the parameters in regime order, whatever order the states came in."""
        order = hmm_state_order(means)
        self.startprob_ = startprob[order].copy()
        self.transmat_ = transmat[np.ix_(order, order)].copy()
        self.means_ = means[order].copy()
        self.covars_ = covars[order].copy()
        self.feature_mean_ = np.asarray(feature_mean, dtype=np.float64).copy()
        self.feature_std_ = np.asarray(feature_std, dtype=np.float64).copy()

    # --- apply ----------------------------------------------------------------------------

    def _log_emissions(self, x: FloatArray) -> FloatArray:
        """``log b_k(y)`` of each row (standardised with the training rows) and state."""
        z = (x - self.feature_mean_) / self.feature_std_
        n_features = z.shape[1]
        chol = np.linalg.cholesky(self.covars_)
        log_det = 2.0 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        out = np.empty((len(z), N_STATES))
        for k in range(N_STATES):
            white = np.linalg.solve(chol[k], (z - self.means_[k]).T)
            out[:, k] = -0.5 * (
                n_features * math.log(2.0 * math.pi) + log_det[k] + (white**2).sum(axis=0)
            )
        return out

    def _apply(
        self, frame: pl.DataFrame | pl.LazyFrame
    ) -> tuple[pl.DataFrame, _Rows, FloatArray, FloatArray]:
        self._check_fitted()
        self._validate_params()
        sorted_frame = self._sorted(frame, only_inputs=False)
        rows = _rows(sorted_frame, self.feature_columns)
        log_b = self._log_emissions(rows.x)
        log_alpha = _forward(log_b, self.startprob_, self.transmat_, rows)
        return sorted_frame, rows, log_b, log_alpha

    def _smoothed(
        self, frame: pl.DataFrame | pl.LazyFrame
    ) -> tuple[pl.DataFrame, _Rows, FloatArray, npt.NDArray[np.bool_]]:
        """``log p(s_t | y_1..t+L)`` of every valid row, and which of them are known (their
        next ``L`` rows are in their sequence; the others' numbers mean nothing)."""
        sorted_frame, rows, log_b, log_alpha = self._apply(frame)
        log_post = _log_normalise(
            log_alpha + _lookahead_factor(log_b, self.transmat_, self.lookahead)
        )
        known = rows.pos + self.lookahead < rows.lengths[rows.seq]
        return sorted_frame, rows, log_post, known

    def filter_probabilities(self, frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
        """Causal regime probabilities ``p(s_t | y_1..t)``: the forward filter.

        Safe as a model input: the value at row ``t`` reads the inputs of rows up to ``t`` of
        the same ticker (from the start of its sequence) and nothing later.

        Parameters
        ----------
        frame : pl.DataFrame or pl.LazyFrame
            ``ticker``, ``date`` and the two input columns (other columns pass through).

        Returns
        -------
        pl.LazyFrame
            The rows sorted by (ticker, date) with `HMM_PROB_COLUMNS` (Float64, summing to 1;
            null where an input is null). Computed when called, returned lazy for chaining.

        Raises
        ------
        NotFittedError
            If the labeller is not fitted.
        SchemaError
            If an input column is missing.
        """
        sorted_frame, rows, _, log_alpha = self._apply(frame)
        probs = np.exp(log_alpha)
        columns = [
            _scatter(name, probs[:, i], rows.valid, pl.Float64)
            for i, name in enumerate(HMM_PROB_COLUMNS.values())
        ]
        return sorted_frame.with_columns(columns).lazy()

    def assign(self, frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
        """Label every row with the regime of highest fixed-lag smoothed posterior.

        Parameters
        ----------
        frame : pl.DataFrame or pl.LazyFrame
            ``ticker``, ``date`` and the two input columns (other columns pass through): the
            rows to label, training rows or not.

        Returns
        -------
        pl.LazyFrame
            The rows sorted by (ticker, date) with the columns of `assign_regime_labels`:
            ``regime_state`` (String), ``regime_state_id`` (Int8, `STATE_TO_ID`),
            ``regime_label_lookahead`` (Int16, ``lookahead``) and ``regime_label_known``
            (Boolean: false on rows with a null input and on the last ``lookahead`` rows of
            each sequence; a null state on a known row is "no state", a posterior below
            ``min_posterior``). Computed when called, returned lazy for chaining.

        Raises
        ------
        NotFittedError
            If the labeller is not fitted.
        SchemaError
            If an input column is missing.
        """
        sorted_frame, rows, log_post, known = self._smoothed(frame)
        best = log_post.argmax(axis=1)
        confident = np.exp(log_post.max(axis=1)) >= self.min_posterior
        state_id = np.where(known & confident, best, np.nan)
        known_all = np.zeros(len(rows.valid), dtype=bool)
        known_all[rows.valid] = known
        state = pl.col(REGIME_STATE_ID).replace_strict(
            ID_TO_STATE, default=None, return_dtype=pl.String
        )
        return (
            sorted_frame.with_columns(_scatter(REGIME_STATE_ID, state_id, rows.valid, pl.Int8))
            .with_columns(
                state.alias(REGIME_STATE),
                pl.lit(self.lookahead, dtype=pl.Int16).alias(REGIME_LABEL_LOOKAHEAD),
                pl.Series(REGIME_LABEL_KNOWN, known_all, dtype=pl.Boolean),
            )
            .select(
                pl.exclude(
                    REGIME_STATE, REGIME_STATE_ID, REGIME_LABEL_LOOKAHEAD, REGIME_LABEL_KNOWN
                ),
                REGIME_STATE,
                REGIME_STATE_ID,
                REGIME_LABEL_LOOKAHEAD,
                REGIME_LABEL_KNOWN,
            )
            .lazy()
        )

    def state_summary(self) -> pl.DataFrame:
        """Each regime's fitted state in the inputs' own units.

        Returns
        -------
        pl.DataFrame
            One row per regime in `STATE_TO_ID` order: ``regime_state``, ``regime_state_id``,
            ``return_mean``, ``volatility_mean`` (the state's Gaussian means, which the mapping
            rule orders), ``return_sd``, ``volatility_sd`` and ``stay_prob`` (the chance of
            staying in the state the next row; mean stay ``1 / (1 - stay_prob)`` rows).
        """
        self._check_fitted()
        mean = self.means_ * self.feature_std_ + self.feature_mean_
        sd = np.sqrt(np.diagonal(self.covars_, axis1=1, axis2=2)) * self.feature_std_
        return pl.DataFrame(
            {
                REGIME_STATE: list(STATE_TO_ID),
                REGIME_STATE_ID: pl.Series(list(STATE_TO_ID.values()), dtype=pl.Int8),
                "return_mean": mean[:, 0],
                "volatility_mean": mean[:, 1],
                "return_sd": sd[:, 0],
                "volatility_sd": sd[:, 1],
                "stay_prob": np.diagonal(self.transmat_).copy(),
            }
        )

    # --- save / load ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The labeller as JSON-ready dicts and lists: ``kind`` (``"hmm"``, the key of
        `FITTED_LABELLERS`), ``format``, ``params`` and ``fitted`` (None before `fit`; the
        arrays in regime order, as lists; Python's float repr round-trips them bit for bit
        through JSON)."""
        fitted: dict[str, Any] | None = None
        if hasattr(self, "transmat_"):
            fitted = {
                "startprob": self.startprob_.tolist(),
                "transmat": self.transmat_.tolist(),
                "means": self.means_.tolist(),
                "covars": self.covars_.tolist(),
                "feature_mean": self.feature_mean_.tolist(),
                "feature_std": self.feature_std_.tolist(),
                "n_fit_rows": self.n_fit_rows_,
                "n_fit_sequences": self.n_fit_sequences_,
                "converged": self.converged_,
            }
        return {"kind": _KIND, "format": _FORMAT, "params": self.get_params(), "fitted": fitted}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HMMLabeller:
        """The labeller `to_dict` wrote (or one whose states come in another order: they are
        mapped to regimes again by the rule).

        Raises
        ------
        ConfigError
            If ``kind``, ``format`` or a parameter is not one this version reads.
        DamagedFileError
            If a fitted array is missing or not a valid HMM parameter.
        """
        if data.get("kind") != _KIND or data.get("format") != _FORMAT:
            msg = (
                f"not an HMM labeller of format {_FORMAT}: got kind={data.get('kind')!r}, "
                f"format={data.get('format')!r}"
            )
            raise ConfigError(msg)
        params = dict(data.get("params") or {})
        unknown = sorted(set(params) - set(_PARAMS))
        if unknown:
            msg = f"unknown HMM labeller parameter(s) {unknown}; allowed: {list(_PARAMS)}"
            raise ConfigError(msg)
        labeller = cls(**params)
        labeller._validate_params()
        fitted = data.get("fitted")
        if fitted is None:
            return labeller
        arrays = {
            name: _array(fitted, name, shape)
            for name, shape in (
                ("startprob", (N_STATES,)),
                ("transmat", (N_STATES, N_STATES)),
                ("means", (N_STATES, 2)),
                ("covars", (N_STATES, 2, 2)),
                ("feature_mean", (2,)),
                ("feature_std", (2,)),
            )
        }
        _check_model(arrays)
        labeller._set_model(**arrays)
        labeller.n_fit_rows_ = int(fitted.get("n_fit_rows", 0))
        labeller.n_fit_sequences_ = int(fitted.get("n_fit_sequences", 0))
        labeller.converged_ = bool(fitted.get("converged", False))
        return labeller


def _scatter(
    name: str, values: npt.ArrayLike, valid: npt.NDArray[np.bool_], dtype: Any
) -> pl.Series:
    """A column over all rows: ``values`` on the valid rows, null elsewhere (NaN -> null)."""
    full = np.full(len(valid), np.nan)
    full[valid] = values
    return pl.Series(name, full, dtype=pl.Float64).fill_nan(None).cast(dtype)


def _array(fitted: Mapping[str, Any], name: str, shape: tuple[int, ...]) -> FloatArray:
    try:
        out = np.asarray(fitted[name], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        msg = f"HMM labeller: `fitted.{name}` is missing or not numbers"
        raise DamagedFileError(msg) from None
    if out.shape != shape or not np.isfinite(out).all():
        msg = f"HMM labeller: `fitted.{name}` must be finite with shape {shape}, got {out.shape}"
        raise DamagedFileError(msg)
    return out


def _check_model(arrays: Mapping[str, FloatArray]) -> None:
    rows_ok = all(
        (arrays[name] >= 0).all() and np.allclose(arrays[name].sum(axis=-1), 1.0, atol=1e-6)
        for name in ("startprob", "transmat")
    )
    try:
        np.linalg.cholesky(arrays["covars"])
        covars_ok = True
    except np.linalg.LinAlgError:
        covars_ok = False
    if not rows_ok or not covars_ok or not (arrays["feature_std"] > 0).all():
        msg = (
            "HMM labeller: `fitted` is not a valid model (probabilities must be >= 0 and sum "
            "to 1, covariances positive definite, feature_std > 0)"
        )
        raise DamagedFileError(msg)


def _gaussian_hmm_class() -> Any:
    return import_extra("hmmlearn.hmm", needed_by="the HMM labeller's fit").GaussianHMM


FITTED_LABELLERS: Final[Mapping[str, type[HMMLabeller]]] = MappingProxyType({_KIND: HMMLabeller})
"""Labellers fitted on training rows, by `RegimeLabelConfig.method`; the priority rules
(``"priority"``) need no fit and are `assign_regime_labels`."""


def fitted_labeller(config: RegimeLabelConfig) -> HMMLabeller:
    """The unfitted labeller that ``config.method`` names.

    Raises
    ------
    ConfigError
        If ``config.method`` names no fitted labeller (``"priority"``: use
        `assign_regime_labels`).
    """
    kind = FITTED_LABELLERS.get(config.method)
    if kind is None:
        choices = ", ".join(map(repr, FITTED_LABELLERS))
        msg = (
            f"`method` must name a fitted labeller ({choices}), got `method={config.method!r}`"
            + (
                "; the priority rules need no fit: `assign_regime_labels`"
                if config.method == "priority"
                else ""
            )
        )
        raise ConfigError(msg)
    return kind.from_config(config)
