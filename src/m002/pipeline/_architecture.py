"""`M002FullArchitecture`: features -> layer 1 -> layer 2 -> layer 3, trained and applied.

Training (``train``):

1. canonical prices (`m002.data.load_silver`) -> the features of ``config.feature_set`` (the
   m002 set, or one holding it, such as ``m002+alpha158``);
2. regime labels and the head's targets (both look ahead; used as targets only); with
   ``[labels] method = "hmm"`` every layer-1 model trains on the labels of an HMM fitted on
   its own rows (`RegimeFits`), and the labels of one HMM fitted on all training rows serve
   only to score layer 1's cross-fitted probabilities;
3. layer 1, cross-fitted on calendar blocks (`RegimeFits`): out-of-sample ``state_prob_*``
   for the head's training rows, plus a final regime model for prediction (fitted on every
   labelled row, or on those up to ``regime_fit_end``); each model is cached under the
   content of its rows, so that it is fitted once however many trainings hold those rows;
4. layer 2 on the rows with out-of-sample probabilities, split 80/20 by date with a purge gap
   of ``horizon + 1`` dates; metrics on the last 20% only;
5. layer 3 (the policy) on those held-out predictions, for the policy metrics.

Stages 1, 3 and 4 are cached on disk under a key of (input data, config section, upstream
key, package and polars versions), so a second run with only the policy changed reads layers 1
and 2 back instead of fitting them.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Final

import polars as pl

from m002 import __version__
from m002._dates import calendar_days, parse_date
from m002._executors import ExecutorConfig
from m002._io import atomic_dir, folder_checksums, read_json, verify_checksums, write_json
from m002._polars import collect
from m002._schema import DATE, TICKER
from m002.exceptions import DamagedFileError, DecisionWarning, NotFittedError, SchemaError
from m002.features import add_features, feature_names, longest_warmup, ticker_chunks
from m002.head import PRED_COLUMNS, MultiTaskHead, head_metrics
from m002.labels import compute_future_returns, label_fit_rows
from m002.pipeline._cache import (
    StageCache,
    StageKey,
    config_fingerprint,
    default_cache_dir,
    files_fingerprint,
    frame_fingerprint,
)
from m002.pipeline._config import M002Config, config_from_dict, config_to_dict
from m002.pipeline._crossfit import CROSSFIT_FOLD, RegimeFits
from m002.policy import apply_policy
from m002.policy import required_columns as policy_inputs
from m002.portfolio import TARGET_WEIGHT, build_portfolio
from m002.regime import RegimeClassifier, regime_quality, state_prob_columns
from m002.regime._quality import LABELLED_KEYS

__all__ = [
    "EWM_SETTLE_ROWS",
    "IN_SAMPLE",
    "OUTPUT_COLUMNS",
    "M002FullArchitecture",
    "read_prices",
]

IN_SAMPLE: Final = "in_sample"
"""Output column: True where the date lies inside the model's training period, whose
decisions are not out of sample."""

OUTPUT_COLUMNS: Final = (
    TICKER,
    DATE,
    *state_prob_columns(),
    *PRED_COLUMNS,
    "policy_score",
    "ex_ante_vol",
    "action",
    "position_size",
    TARGET_WEIGHT,
    IN_SAMPLE,
)
_MODEL_KIND: Final = "model"
_MANIFEST_FORMAT: Final = 2
_FILES: Final = {
    "config": "config.json",
    "schema": "feature_schema.json",
    "metrics": "metrics.json",
    "manifest": "manifest.json",
}

# layer 1's figures over every row with a known outcome ("none" counted as its own outcome)
_ALL_ROW_KEYS: Final = (
    "n",
    "macro_f1",
    "balanced_accuracy",
    "accuracy",
    "log_loss",
    "brier",
    "frequency",
    "mean_probability",
)

# the slowest EWM is Wilder's (alpha 1/14): its start weighs (13/14)**250 ~ 1e-8 after 250 rows
# (the bound the portfolio's memory_dates(exact=False) matches: m002.portfolio SETTLED)
EWM_SETTLE_ROWS: Final = 250

Source = str | Path | pl.DataFrame | pl.LazyFrame


PREDICT_CHUNK_ROWS: Final = 250_000
"""Price rows `M002FullArchitecture.predict` computes features, layer-1 probabilities and the
head for at once, in whole tickers (`m002.features.ticker_chunks`: a chunk ends at the first
ticker to start after this many rows; a ticker with more is a chunk of its own): one
ticker's features never need another's, so its working memory is that of a chunk whatever
the size of the universe. About 50 tickers of 20 years (0.6 GB above the rest on the 403 x
4,800 benchmark), or 450 tickers in daily use, which reads about 550 rows of each."""


def _first_of_last(prices: pl.DataFrame, dates: int) -> date:
    """The first of the last ``dates + 1`` trading dates of ``prices``."""
    calendar = prices[DATE].unique().sort()
    return calendar[max(calendar.len() - dates - 1, 0)]  # type: ignore[no-any-return]


def _windows_from(features: pl.DataFrame, since: date | None, seq_len: int) -> pl.DataFrame:
    """The rows of ``features`` (sorted by ticker, date) that a window of ``seq_len`` rows
    ending on or after ``since`` can hold: per ticker, from ``seq_len - 1`` rows before its
    first row dated ``since`` or later. The windows, hence layer 1's probabilities from
    ``since`` on, are those of the whole frame; the rows before them are not read."""
    if since is None:
        return features
    earlier = (pl.col(DATE) < since).sum().over(TICKER)
    return features.filter(pl.int_range(pl.len()).over(TICKER) >= earlier - (seq_len - 1))


def read_prices(
    source: Source,
    *,
    validate: str = "strict",
    start: date | None = None,
    end: date | None = None,
    min_rows: int | None = None,
) -> pl.DataFrame:
    """Canonical prices, sorted by (ticker, date), from a path or a frame.

    A path is read by `m002.data.load_silver`, a frame by `m002.data.validate_frame`: the
    same column spellings, date rule, validation rules (``validate``: strict, lenient or
    off) and split adjustment either way. Only the prices of a frame are kept: features,
    probabilities or predictions already in it (an earlier run's output joined back, say)
    are recomputed downstream, never trusted. ``min_rows``: a ticker with fewer rows breaks
    the rule ``too_few_rows`` (training asks for one row past the longest warm-up).
    """
    from m002.data import load_silver, validate_frame

    rows = None if validate == "off" else min_rows
    if isinstance(source, pl.DataFrame | pl.LazyFrame):
        return validate_frame(
            source,
            start=start,
            end=end,
            validate=validate,  # type: ignore[arg-type]
            min_rows=rows,
        )
    return collect(
        load_silver(
            source,
            start=start,
            end=end,
            validate=validate,  # type: ignore[arg-type]
            min_rows=rows,
        )
    )


class M002FullArchitecture:
    """The whole M002 system: ``train`` on history, ``predict`` decisions, ``save``/``load``.

    Parameters
    ----------
    config : M002Config, optional
        Every parameter, by section; defaults when omitted.
    cache_dir : str or Path, optional
        Stage cache folder; default `m002.pipeline.default_cache_dir()` (``~/.cache/m002``
        or ``$M002_CACHE_DIR``).
    use_cache : bool
        False reads and writes no cache entry.
    verbose : bool
        Progress of each stage and of the LSTM epochs.

    Attributes
    ----------
    regime_ : RegimeClassifier
        Layer 1 fitted on every labelled row (used by `predict`).
    head_ : MultiTaskHead
    trained_state : dict
        Metrics of the last `train`: regime (validation and cross-fitted), head (AP with the
        base rate, MAE, daily IC and rank IC on the held-out 20%), policy (mean score, action
        shares), the splits, the stage cache hits and timings.
    """

    def __init__(
        self,
        config: M002Config | None = None,
        *,
        cache_dir: str | Path | None = None,
        use_cache: bool = True,
        verbose: bool = True,
    ) -> None:
        self.config = config or M002Config()
        self.cache = StageCache(cache_dir or default_cache_dir(), enabled=use_cache)
        self.verbose = verbose
        self.trained_state: dict[str, Any] = {}

    # --- helpers ----------------------------------------------------------------------------

    def _say(self, message: str) -> None:
        if self.verbose:
            print(f"[m002] {message}", flush=True)

    def _key(self, stage: str, input_hash: str, section: Any, upstream: str | None) -> StageKey:
        return StageKey(
            stage=stage,
            input_hash=input_hash,
            config_hash=config_fingerprint(section),
            upstream=upstream,
        )

    def _prices(
        self,
        source: Source,
        *,
        start: date | None = None,
        end: date | None = None,
        min_rows: int | None = None,
    ) -> pl.DataFrame:
        return read_prices(
            source, validate=self.config.validate, start=start, end=end, min_rows=min_rows
        )

    def _features(self, prices: pl.DataFrame) -> tuple[pl.DataFrame, StageKey, bool]:
        gap = self.config.max_gap_days
        name = self.config.feature_set
        # the set is in the key: the regime and head stages key on this one's digest
        key = self._key(
            "features", frame_fingerprint(prices), {"set": name, "max_gap_days": gap}, None
        )
        frame, hit = self.cache.get_or_compute(
            key,
            lambda: collect(add_features(prices, name, assume_sorted=True, max_gap_days=gap)),
        )
        self._say(f"features: {frame.height:,} rows" + (" (cached)" if hit else ""))
        return frame, key, hit

    # --- train ------------------------------------------------------------------------------

    def train(
        self,
        source: Source,
        *,
        regime_fit_end: date | None = None,
        executor: ExecutorConfig | None = None,
    ) -> M002FullArchitecture:
        """Fit layers 1 and 2 on ``source`` (a path or canonical frame) and fill
        ``trained_state``. Returns self.

        ``executor``: where layer 1's models are fitted (`m002.evaluation.ExecutorConfig`;
        default: in this process, one after another). Without a warm start they are
        independent, and worker processes fit them side by side, handing them back through
        the stage cache; the trained model is the same wherever they ran.

        ``regime_fit_end``: layer 1's final model fits on the labelled rows up to this date
        only (default: every row). The walk-forward passes the date ``seq_len + lookahead``
        dates before its test block: the purge a cross-fit block has, which makes a fold's
        final model the next fold's model of that block, fitted once.

        Regime labels (`m002.labels.label_fit_rows`): ``"priority"`` labels the training rows
        by the rules, the same for every model. ``"hmm"``: each layer-1 model (every block's
        and the final one) trains on the labels of an HMM fitted on exactly its own rows,
        inside `RegimeFits`. ``trained_state["regime"]["crossfit"]`` then scores the
        out-of-fold probabilities against the labels of one more HMM, fitted on all of the
        training rows: one yardstick for every block, but fitted on rows that include the
        blocks it scores (never on layer 1's output), while each block's model learned the
        states of its own HMM. Read it as an in-sample diagnostic; the walk-forward scores
        each test block against the labels of its fold's final model's own HMM.
        """
        started = time.perf_counter()
        timings: dict[str, float] = {}
        cfg = self.config
        t0 = time.perf_counter()
        # no min_rows: a ticker younger than the longest warm-up (one listed near the end of
        # a walk-forward fold's training dates, say) only adds rows without features
        prices = self._prices(source)
        features, features_key, features_hit = self._features(prices)
        timings["features_s"] = time.perf_counter() - t0

        # "priority" labels every row by its rules (nothing is fitted). A fitted labeller
        # ("hmm") labels each layer-1 model's own rows inside RegimeFits, from the inputs kept
        # here, and every training row only where the regime stage is computed, to score its
        # out-of-fold probabilities (kept with them): a cache hit fits no HMM
        rows = label_fit_rows(features, cfg.labels) if cfg.labels.method == "priority" else features
        labelled = collect(compute_future_returns(rows, cfg.targets))
        t0 = time.perf_counter()
        regime_key = self._key(
            "regime",
            features_key.input_hash,
            {
                "labels": cfg.labels,
                "regime": cfg.regime,
                "crossfit": cfg.crossfit,
                "max_gap_days": cfg.max_gap_days,
                "regime_fit_end": None if regime_fit_end is None else str(regime_fit_end),
            },
            features_key.digest,
        )
        regime_dir, regime_hit, fits = self._regime_stage(
            regime_key, labelled, regime_fit_end, executor
        )
        self.regime_ = RegimeClassifier.load(regime_dir / "model")
        oof = pl.read_parquet(regime_dir / "oof.parquet")
        folds = json.loads((regime_dir / "folds.json").read_text())
        quality = json.loads((regime_dir / "quality.json").read_text())
        timings["regime_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        head_key = self._key(
            "head",
            features_key.input_hash,
            {"targets": cfg.targets, "head": cfg.head, "crossfit": cfg.crossfit},
            regime_key.digest,
        )
        head_dir, head_hit = self._head_stage(head_key, labelled, oof)
        self.head_ = MultiTaskHead.load(head_dir / "model")
        held_out = pl.read_parquet(head_dir / "held_out.parquet")
        head_info = json.loads((head_dir / "head.json").read_text())
        timings["head_s"] = time.perf_counter() - t0

        decisions = apply_policy(held_out, cfg.policy)
        actions = decisions["action"].value_counts(normalize=True)
        self.feature_schema_ = {
            name: str(features.schema[name]) for name in feature_names(cfg.feature_set)
        }
        # derived stages key on the weights themselves, never on a digest written beside them
        self._regime_content = files_fingerprint(regime_dir / "model")
        timings["total_s"] = time.perf_counter() - started
        self.trained_state = {
            "rows": features.height,
            "tickers": features[TICKER].n_unique(),
            "dates": [str(features[DATE].min()), str(features[DATE].max())],
            "regime": {
                "validation": {
                    **_pick(self.regime_.metrics_, *LABELLED_KEYS),
                    "all_rows": _pick(self.regime_.metrics_.get("all_rows", {}), *_ALL_ROW_KEYS),
                },
                "crossfit": {**quality, "folds": sorted(oof[CROSSFIT_FOLD].unique().to_list())},
                "folds": folds,
            },
            "head": {**head_info, "held_out": head_metrics(held_out)},
            "policy": {
                "mean_policy_score": float(decisions["policy_score"].mean() or 0.0),  # type: ignore[arg-type]
                "action_shares": {a: float(s) for a, s in actions.iter_rows()},
                "mean_abs_position": float(decisions["position_size"].abs().mean() or 0.0),  # type: ignore[arg-type]
            },
            "cache": {
                "features_hit": features_hit,
                "regime_hit": regime_hit,
                "head_hit": head_hit,
                "regime_models_fitted": fits.fitted if fits else 0,
                "regime_models_read_back": fits.read_back if fits else 0,
            },
            "timings": {k: round(v, 2) for k, v in timings.items()},
        }
        self._say(
            f"trained in {timings['total_s']:.1f} s "
            f"(regime {'cached' if regime_hit else 'fitted'}, head "
            f"{'cached' if head_hit else 'fitted'})"
        )
        return self

    def _regime_stage(
        self,
        key: StageKey,
        labelled: pl.DataFrame,
        final_fit_end: date | None,
        executor: ExecutorConfig | None,
    ) -> tuple[Path, bool, RegimeFits | None]:
        cfg = self.config
        fits = RegimeFits(
            self.cache,
            labelled,
            cfg.regime,
            cfg.labels,
            cfg.crossfit,
            max_gap_days=cfg.max_gap_days,
            verbose=self.verbose,
        )

        def fit(folder: Path) -> None:
            self._say(f"layer 1: cross-fitting on blocks of {cfg.crossfit.block}")
            oof, folds, final = fits.crossfit_and_final(final_fit_end, executor, self._say)
            self._say(
                f"layer 1: {fits.fitted} model(s) fitted, {fits.read_back} read back from the cache"
            )
            final.save(folder / "model")
            oof.write_parquet(folder / "oof.parquet")
            (folder / "folds.json").write_text(json.dumps(folds, indent=2))
            # the out-of-fold probabilities against every training row's labels (for "hmm",
            # those of one more HMM, fitted on all of these rows: an in-sample yardstick)
            scored = labelled
            if cfg.labels.method != "priority":
                scored = collect(label_fit_rows(labelled, cfg.labels))
            quality = regime_quality(scored, oof)
            quality.pop("reliability", None)
            write_json(folder / "quality.json", quality)

        folder, hit = self.cache.get_or_build_dir(key, fit)
        return folder, hit, None if hit else fits

    def _head_stage(
        self, key: StageKey, labelled: pl.DataFrame, oof: pl.DataFrame
    ) -> tuple[Path, bool]:
        cfg = self.config

        def fit(folder: Path) -> None:
            rows = labelled.join(oof, on=[TICKER, DATE], how="inner")
            purge = cfg.targets.horizon + 1
            train_end, valid_start = _purged_split(rows, cfg.crossfit.head_valid_fraction, purge)
            train = rows.filter(pl.col(DATE) <= train_end)
            fit_end, stop_start = _purged_split(train, cfg.head.early_stopping_fraction, purge)
            self._say(
                f"layer 2: fitting the head on dates up to {fit_end}, early stopping on "
                f"{stop_start} .. {train_end}"
            )
            chosen = cfg.head.build(feature_set=cfg.feature_set).fit(
                train.filter(pl.col(DATE) <= fit_end),
                valid=train.filter(pl.col(DATE) >= stop_start),
            )
            head = chosen
            if cfg.head.refit_all:
                self._say(f"layer 2: refitting on every date with {chosen.best_iterations_}")
                head = chosen.refit(rows)
            head.save(folder / "model")
            held = rows.filter(pl.col(DATE) >= valid_start)
            predictions = chosen.predict(held)
            keep = [c for c in held.columns if c not in PRED_COLUMNS]
            held.select(keep).join(predictions, on=[TICKER, DATE]).write_parquet(
                folder / "held_out.parquet"
            )
            info = {
                "split": {
                    "train_end": str(train_end),
                    "valid_start": str(valid_start),
                    "purge_dates": purge,
                    "first_crossfit_date": str(rows[DATE].min()),
                    "early_stopping_start": str(stop_start),
                },
                "n_train_rows": chosen.n_rows_fitted_,
                "n_early_stopping_rows": chosen.n_rows_valid_,
                "best_iterations": chosen.best_iterations_,
                "refit_all": cfg.head.refit_all,
                "n_production_rows": head.n_rows_fitted_,
                "base_rate_train": chosen.base_rate_,
            }
            write_json(folder / "head.json", info)

        return self.cache.get_or_build_dir(key, fit)

    # --- predict ----------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "head_"):
            msg = (
                "this M002FullArchitecture is not trained: call `train(source)` or "
                "`M002FullArchitecture.load(path)` first"
            )
            raise NotFittedError(msg)

    def _check_schema(self, features: pl.DataFrame) -> None:
        problems = [
            f"{name}: expected {dtype}, got "
            + (str(features.schema[name]) if name in features.columns else "missing")
            for name, dtype in self.feature_schema_.items()
            if name not in features.columns or str(features.schema[name]) != dtype
        ]
        if problems:
            msg = (
                "the data's feature schema differs from the one the model was trained on: "
                + "; ".join(problems[:10])
                + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else "")
            )
            raise SchemaError(msg)

    def history_days(self) -> int:
        """Calendar days of history `predict(asof=...)` reads before ``asof``.

        Every feature's warm-up and one regime window, plus `EWM_SETTLE_ROWS` rows so that the
        exponential averages (MACD, Wilder RSI/ATR, EMA spread), whose memory never ends, have
        forgotten where the data starts: the decisions then match a run over the full history
        to about 1e-8, and the portfolio's `memory_dates` so that its memory (trade rate,
        hysteresis, cooldown) is rebuilt as a full-history run has it: to within 1e-8 where
        the book has no discrete state (``exact=False``: no tighter than the features), bit
        for bit where it has (`m002._dates.calendar_days` converts the rows).
        """
        warmup = longest_warmup(self.config.feature_set)
        rows = warmup + self.config.regime.seq_len + EWM_SETTLE_ROWS
        return calendar_days(rows + self.config.portfolio.memory_dates(exact=False))

    def predict(self, source: Source, *, asof: date | str | None = None) -> pl.DataFrame:
        """Decisions per (ticker, date).

        Parameters
        ----------
        source : path or frame
            Canonical prices. A frame may carry other columns (features, an earlier run's
            output): only its prices are read (and validated like a path's), and everything
            else is recomputed.
        asof : date, ISO string or "latest", optional
            Only that date (the daily use): reads just the history it needs. A date that is
            not a trading day in the data (a weekend, a holiday) gives the decisions of the
            last trading day before it, with a `DecisionWarning`. Without it, every date with
            enough history is predicted (research use).

        Returns
        -------
        pl.DataFrame
            `OUTPUT_COLUMNS`: ticker, date, ``state_prob_*``, ``pred_*``, ``policy_score``,
            ``ex_ante_vol``, ``action``, ``position_size``, ``target_weight`` (the portfolio
            layer's weight of the name in tomorrow's book, `m002.portfolio`) and
            ``in_sample`` (the date lies inside the training period). Where layer 1 has no
            probabilities yet (a ticker's first ``warm-up + seq_len`` rows) the predictions
            are null and the action is FLAT with size 0 and weight 0.

        Warns
        -----
        DecisionWarning
            With ``asof``: a ticker whose data stops before the day (stale) is left out, and
            a ticker with too little history to score is listed; both are also recorded in
            `last_predict_` with the reason, beside the day asked for and the day used.

        Raises
        ------
        ConfigError
            If ``asof`` is not a date, an ISO date string or "latest".
        SchemaError
            If no prices fall on or before ``asof`` within the history it reads.
        """
        self._check_fitted()
        day: date | None = None
        if isinstance(asof, str) and asof.strip().lower() == "latest":
            day = self._latest_date(source)
        elif asof is not None:
            day = parse_date(asof, "asof")
        start = None if day is None else day - timedelta(days=self.history_days())
        # no min_rows: a ticker too young to score is listed, not a reason to stop
        prices = self._prices(source, start=start, end=day)
        if prices.height == 0:
            where = "" if day is None else f" between {start} and asof={day}"
            msg = f"no price rows to predict from{where}"
            raise SchemaError(msg)
        # for one day, the layers score only the dates the portfolio's memory reaches back
        # to; the dates before them are the features' and windows' history
        memory = self.config.portfolio.memory_dates(exact=False)
        since = None if day is None else _first_of_last(prices, memory)
        per_row = not self.head_.cross_sectional
        parts = [
            self._scored(chunk, since, with_head=per_row)
            for chunk in ticker_chunks(prices, PREDICT_CHUNK_ROWS)
        ]
        frame = pl.concat(parts)
        if not per_row:  # the head normalises each date across every ticker
            frame = self._with_head(frame)
        first, last = (date.fromisoformat(d) for d in self.trained_state["dates"])
        decided = build_portfolio(
            apply_policy(frame, self.config.policy), self.config.portfolio
        ).with_columns(pl.col(DATE).is_between(first, last).alias(IN_SAMPLE))
        out = decided.select(OUTPUT_COLUMNS)
        if day is None:
            self.last_predict_: dict[str, Any] = {"asof": None, "rows": out.height}
            return out
        return self._one_day(out, prices, day)

    def _scored(self, prices: pl.DataFrame, since: date | None, *, with_head: bool) -> pl.DataFrame:
        """Features, layer-1 probabilities and, ``with_head``, layer 2's predictions of one
        chunk of tickers: only the columns the later steps read, and only the rows on or after
        ``since`` (where the book's memory starts, `PortfolioConfig.memory_dates`; the rows
        before it are the features' and the windows' history)."""
        features, features_key, _ = self._features(prices)
        self._check_schema(features)
        section = {} if since is None else {"since": str(since)}
        probs_key = self._key(
            "regime_probs", features_key.input_hash, section, self._regime_content
        )
        probs, _ = self.cache.get_or_compute(
            probs_key,
            lambda: self.regime_.predict_probabilities(
                _windows_from(features, since, self.regime_.seq_len), since=since
            ),
        )
        rows = features if since is None else features.filter(pl.col(DATE) >= since)
        frame = rows.join(probs, on=[TICKER, DATE], how="left")
        if with_head:
            frame = self._with_head(frame)
        keep = [
            TICKER,
            DATE,
            *state_prob_columns(),
            *(PRED_COLUMNS if with_head else self.head_.feature_columns or ()),
            *policy_inputs(),
            *self.config.portfolio.required_columns(),
        ]
        return frame.select(c for c in dict.fromkeys(keep) if c in frame.columns)

    def _with_head(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` with layer 2's predictions where layer 1 has probabilities (null where
        it has none)."""
        no_state = pl.any_horizontal(pl.col(c).is_null() for c in state_prob_columns())
        # the head sees the rows it was trained on, those with layer 1's probabilities: a
        # cross-sectional normalisation then ranks a date among the same kind of rows
        predictions = self.head_.predict(frame.filter(~no_state))
        return frame.join(predictions, on=[TICKER, DATE], how="left").with_columns(
            pl.when(~no_state).then(pl.col(c)).alias(c) for c in PRED_COLUMNS
        )

    def _one_day(self, out: pl.DataFrame, prices: pl.DataFrame, asked: date) -> pl.DataFrame:
        """The decisions of the last trading day on or before ``asked``, and the tickers that
        have none, with the reason (recorded in `last_predict_`, warned about)."""
        day: date = prices[DATE].max()  # type: ignore[assignment]
        last_rows = prices.group_by(TICKER).agg(pl.col(DATE).max().alias("last_date"))
        stale = last_rows.filter(pl.col("last_date") < day).sort(TICKER)
        out = out.filter(pl.col(DATE) == day)
        short = out.filter(pl.col(state_prob_columns()[0]).is_null())[TICKER].sort()
        left_out = [
            {"ticker": t, "reason": f"stale: last price on {d}", "last_date": str(d)}
            for t, d in stale.iter_rows()
        ] + [
            {
                "ticker": t,
                "reason": "too little history to score: FLAT, size 0",
                "last_date": str(day),
            }
            for t in short.to_list()
        ]
        self.last_predict_ = {
            "asof": str(asked),
            "day": str(day),
            "rows": out.height,
            "in_sample": bool(out[IN_SAMPLE].any()),
            "left_out": left_out,
        }
        if day != asked:
            warnings.warn(
                f"asof={asked} is not a trading day in the data: the decisions are those of "
                f"{day}, the last trading day before it",
                DecisionWarning,
                stacklevel=3,
            )
        if left_out:
            names = ", ".join(f"{e['ticker']} ({e['reason']})" for e in left_out[:10])
            more = f" and {len(left_out) - 10} more" if len(left_out) > 10 else ""
            warnings.warn(
                f"{len(left_out)} ticker(s) have no decision on {day}: {names}{more}",
                DecisionWarning,
                stacklevel=3,
            )
        return out

    def _latest_date(self, source: Source) -> date:
        if isinstance(source, pl.DataFrame | pl.LazyFrame):
            latest = source.lazy().select(pl.col(DATE).max()).collect().item()
        else:
            from m002.data import load_silver

            latest = load_silver(source, validate="off").select(pl.col(DATE).max()).collect().item()
        if latest is None:
            msg = "no dates in the source: cannot resolve asof='latest'"
            raise SchemaError(msg)
        return latest  # type: ignore[no-any-return]

    # --- persistence ------------------------------------------------------------------------

    def save(self, path: str | Path, *, option: str = "`path`") -> Path:
        """Write one model folder: regime/ (state dict + JSON), head/ (LightGBM text), config,
        feature schema, metrics, and a manifest with the package version and the size and
        SHA-256 of every file. No pickle.

        The folder is written beside ``path`` and renamed into place when complete: an
        existing model there is replaced only then, and a folder that is not an m002 model
        is never touched (`m002._io.atomic_dir`).

        Raises
        ------
        OutputExistsError
            If ``path`` is a file, or a non-empty folder that is not an m002 model folder
            (``option`` names it in the message).
        """
        self._check_fitted()
        with atomic_dir(path, kind=_MODEL_KIND, option=option) as tmp:
            self.regime_.save(tmp / "regime")
            self.head_.save(tmp / "head")
            write_json(tmp / _FILES["config"], config_to_dict(self.config))
            write_json(tmp / _FILES["schema"], self.feature_schema_)
            write_json(tmp / _FILES["metrics"], self.trained_state)
            manifest = {
                "format": _MANIFEST_FORMAT,
                "m002_version": __version__,
                "files": folder_checksums(tmp),
            }
            write_json(tmp / _FILES["manifest"], manifest)
        return Path(path)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        cache_dir: str | Path | None = None,
        use_cache: bool = True,
        verbose: bool = True,
    ) -> M002FullArchitecture:
        """Load a model folder written by `save`, after checking every file against the
        manifest's checksums.

        Raises
        ------
        FileNotFoundError
            If ``path`` is not a folder with a model manifest.
        DamagedFileError
            If the manifest or any file it lists is missing, truncated, altered or not what
            it should be; the message names the file (nothing is loaded from it).
        """
        folder = Path(path)
        if not (folder / _FILES["manifest"]).is_file():
            msg = f"{folder} is not a saved m002 model (no {_FILES['manifest']})"
            raise FileNotFoundError(msg)
        manifest = read_json(folder / _FILES["manifest"], what="the model manifest")
        if not isinstance(manifest, dict):
            msg = f"the model manifest {folder / _FILES['manifest']} is damaged"
            raise DamagedFileError(msg)
        verify_checksums(folder, manifest.get("files"), what="model folder")
        what = f"model folder {folder}:"
        config = config_from_dict(read_json(folder / _FILES["config"], what=what))
        model = cls(config, cache_dir=cache_dir, use_cache=use_cache, verbose=verbose)
        model.regime_ = RegimeClassifier.load(folder / "regime")
        model.head_ = MultiTaskHead.load(folder / "head")
        model.feature_schema_ = read_json(folder / _FILES["schema"], what=what)
        model.trained_state = read_json(folder / _FILES["metrics"], what=what)
        model._regime_content = files_fingerprint(folder / "regime")
        return model


def _purged_split(rows: pl.DataFrame, last_fraction: float, purge: int) -> tuple[date, date]:
    """The last date of the first part and the first date of the last ``last_fraction`` of
    ``rows``' dates, with ``purge`` dates between them."""
    calendar = rows[DATE].unique().sort()
    start = math.floor(calendar.len() * (1 - last_fraction))
    if start - 1 - purge < 0:
        msg = (
            f"too few dates to split: {calendar.len()} dates cannot give a last share of "
            f"{last_fraction} after a purge of {purge} dates; train on a longer history"
        )
        raise SchemaError(msg)
    return calendar[start - 1 - purge], calendar[start]


def _omit(metrics: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k not in names}


def _pick(metrics: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: metrics[n] for n in names if n in metrics}
