"""How well variants of the head rank names, fold by fold, without layer 1: a cheap way to
choose the head's defaults on early folds and report them on later ones.

For each yearly test fold of the walk-forward (the same folds as ``m002 walkforward
--first-test-date 2008-01-01 --retrain-every 1y``: `walk_forward_splits` with the
pipeline's embargo), each variant ("arm") of ``[head]`` is fitted as the walk-forward's
ablation head is (`M002FullArchitecture._head_stage`): without ``state_prob_*``, on the
fold's training rows from the first date layer 1's cross-fitting would give probabilities
for (`regime_block_plan`), the last ``head_valid_fraction`` of those dates held out, early
stopping on the last ``early_stopping_fraction`` of the rest (each split purged by
``horizon + 1`` dates), then refitted on every training row with the chosen trees. It then
predicts the test block, and the daily rank IC of ``pred_expected_ret_pct`` is taken against
the 5-day return bought at t (``future_ret_pct``) and at t+1 (``future_ret_next_pct``,
Qlib's label).

The panel is its own: the features of the whole history and the targets computed once (a
training row near a fold's end may read prices of the embargo, never of the test block), so
its figures compare the arms with each other, not with a walk-forward's (on 2016-2021 its
shipped head scores a rank IC of 0.0175 from t, the walk-forward's ablation 0.0142).

Layer 1 is left out on purpose: its fits are most of a walk-forward's time, and the head's
own choices can be compared without it (the walk-forward's ``rank_ic_no_state_probs``
figures are this head's). What layer 1 adds on top is measured by `m002 experiment`.

The rule that chooses, written down while the first fold ran (before any summary): over the
test years 2008-2015, the arm with the highest mean daily rank IC from t+1 replaces the
shipped head if its paired difference to ``default`` is more than one standard error; the
years 2016-2021 then report the two. It chose ``rank``, which did not carry over to
2016-2021. A second and last round on these years (commit 79de6ec, written before its
run) put ``ic_stop`` alone against the shipped head, with the m002+alpha158 and the m002
heads; it carried over and is the default now, so ``default`` is ``ic_stop`` and
``loss_stop`` is the head shipped before (the figures of both rounds are in the README).

Writes ``OUT/daily.parquet`` (arm, fold, date, rank IC from t and from t+1) and prints, per
arm and per range of test years (``--report``), the mean daily rank IC with a standard
error from non-overlapping 5-date blocks (neighbouring dates' 5-day returns overlap) and the
paired difference to the first arm.

    python benchmarks/bench_head_ic.py --out /tmp/head_ic --years 2008-2015
    python benchmarks/bench_head_ic.py --out /tmp/head_ic --years 2016-2021 --arms default rank
    python benchmarks/bench_head_ic.py --out /tmp/head_ic --summary-only --report 2008-2015
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "sp500_sample"

QLIB_TREES: dict[str, Any] = {
    "learning_rate": 0.2,
    "num_leaves": 210,
    "max_depth": 8,
    "reg_alpha": 205.6999,
    "reg_lambda": 580.9768,
    "colsample_bytree": 0.8879,
    "subsample": 1.0,
    "min_child_samples": 20,
    "n_estimators": 1000,
}
"""The tree parameters of Qlib's LightGBM benchmark on Alpha158 (below)."""

ARMS: dict[str, dict[str, Any]] = {
    "default": {},
    "rank": {"target": "rank"},
    "cs_rank": {"normalize": "cs_rank"},
    "rank_cs_rank": {"target": "rank", "normalize": "cs_rank"},
    "zscore": {"target": "zscore"},
    "qlib": {"target": "zscore", **QLIB_TREES},
    "fast": {"learning_rate": 0.1, "early_stopping_rounds": 20},
    "ic_stop": {"return_stopping": "rank_ic"},
    "loss_stop": {"return_stopping": "loss"},
    "qlib_model": {"label": "next", "feature_set": "alpha158", "target": "zscore", **QLIB_TREES},
}
"""``[head]`` overrides of each variant; ``default`` is the shipped head. ``zscore`` learns
Qlib's label (each date's returns z-scored, its ``CSZScoreNorm``); ``qlib`` adds the tree
parameters of Qlib's LightGBM benchmark on Alpha158
(``examples/benchmarks/LightGBM/workflow_config_lightgbm_Alpha158.yaml``: learning rate 0.2,
210 leaves, depth 8, L1 205.6999, L2 580.9768, feature fraction 0.8879, 1,000 rounds with
early stopping; its ``subsample`` 0.8789 has no effect there, as LightGBM bags only with a
``bagging_freq``, so none here; LightGBM's default of 20 rows per leaf). ``fast`` learns at
0.1 instead of 0.03 and stops 20 rounds past its best instead of 50 (about the same distance
in learning rate times rounds): fewer trees for the walk-forward's time. ``ic_stop`` stops
the return model on its mean daily rank IC on the stopping block instead of its l2 loss
(the shipped head's return model kept 1 to 7 trees in 12 of the 14 yearly folds from
2008, stopped by a loss that 5-day returns' noise barely lets fall); ``loss_stop`` stops it
on the loss, as the shipped head did before ``ic_stop`` won. ``qlib_model`` is
not a candidate but the comparator the issue names, Qlib's own model as its LightGBM
benchmark builds it: Alpha158 alone, Qlib's tree parameters, and Qlib's label, learnt as it
is scored (``"label": "next"``: the 5-day return bought at t+1, z-scored per date), with early
stopping on that label too; the head's other two models are fitted as usual and unused."""

LABELS: dict[str, str] = {"t": "future_ret_pct", "next": "future_ret_next_pct"}
"""What an arm's return model learns (``"label"`` of `ARMS`, ``"t"`` unless given): the 5-day
return bought at t, or the one bought at t+1. The head reads its return target from
``future_ret_pct``, so the ``next`` arms' fitting rows carry the t+1 return there."""


def _years(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    return int(first), int(last or first)


def build_panel(source: Path, feature_set: str) -> pl.DataFrame:
    """Features of ``feature_set``, the head's targets and the return bought at t+1."""
    from m002.features import build_dataset
    from m002.labels import TargetConfig, compute_future_returns, future_return_from_next

    targets = TargetConfig()
    frame = build_dataset(source, feature_set).collect()
    labelled = compute_future_returns(frame, targets).collect()
    return labelled.with_columns(future_return_from_next(targets.horizon))


def fit_and_predict(
    panel: pl.DataFrame, fold: Any, overrides: dict[str, Any], feature_set: str
) -> pl.DataFrame:
    """One arm on one fold: the ablation head's fit, then its predictions on the test block."""
    from m002._schema import DATE
    from m002.pipeline import M002Config, regime_block_plan
    from m002.pipeline._architecture import _purged_split

    config = M002Config(feature_set=feature_set)
    options = dict(overrides)
    label = LABELS[options.pop("label", "t")]
    head = dataclasses.replace(config.head, use_state_probs=False, **options)
    training = panel.filter(pl.col(DATE).is_between(fold.train_start, fold.train_end))
    # the t+1 label reads one date further ahead: the purges below grow by one, and the fold's
    # embargo (label reach + 1 = horizon + 1 dates) still holds the last training row's t+6
    training = training.with_columns(pl.col(label).alias("future_ret_pct"))
    plan = regime_block_plan(
        training[DATE].unique().sort(), config.regime, config.labels, config.crossfit
    )
    rows = training.filter(pl.col(DATE) >= plan[0]["predict_start"])
    purge = config.targets.horizon + 1 + (label != "future_ret_pct")
    train_end, _ = _purged_split(rows, config.crossfit.head_valid_fraction, purge)
    train = rows.filter(pl.col(DATE) <= train_end)
    fit_end, stop_start = _purged_split(train, head.early_stopping_fraction, purge)
    chosen = head.build(feature_set=feature_set).fit(
        train.filter(pl.col(DATE) <= fit_end), valid=train.filter(pl.col(DATE) >= stop_start)
    )
    model = chosen.refit(rows) if head.refit_all else chosen
    test = panel.filter(pl.col(DATE).is_between(fold.test_start, fold.test_end))
    return test.select("ticker", DATE, "future_ret_pct", "future_ret_next_pct").join(
        model.predict(test).select("ticker", DATE, "pred_expected_ret_pct"),
        on=["ticker", DATE],
    )


def daily_rank_ic(predicted: pl.DataFrame) -> pl.DataFrame:
    """Per date: the rank IC of the expected return with the return from t and from t+1
    (`m002.head.per_date_ic`: dates with at least 5 names having both)."""
    from m002.head import per_date_ic

    out = [
        per_date_ic(predicted, "pred_expected_ret_pct", target).select(
            "date", pl.col("rank_ic").alias(name)
        )
        for target, name in (("future_ret_pct", "ic_t"), ("future_ret_next_pct", "ic_next"))
    ]
    return out[0].join(out[1], on="date", how="full", coalesce=True).sort("date")


def block_mean_se(values: np.ndarray, block: int = 5) -> tuple[float, float]:
    """Mean and the standard error of the mean from non-overlapping ``block``-date means."""
    values = values[np.isfinite(values)]
    n = values.size // block
    if n < 2:
        return float(values.mean()) if values.size else float("nan"), float("nan")
    means = values[: n * block].reshape(n, block).mean(axis=1)
    return float(values.mean()), float(means.std(ddof=1) / np.sqrt(n))


def summary(daily: pl.DataFrame, first: int, last: int) -> list[dict[str, Any]]:
    """Per arm: mean rank IC from t and t+1 with block standard errors, and the paired
    difference to the first arm of the table, over the test years ``first..last``."""
    rows = daily.filter(pl.col("date").dt.year().is_between(first, last))
    arms = list(dict.fromkeys(rows["arm"].to_list()))
    if not arms:
        return []
    wide = {
        col: rows.pivot(on="arm", index="date", values=col).sort("date")
        for col in ("ic_t", "ic_next")
    }
    out = []
    for arm in arms:
        entry: dict[str, Any] = {"arm": arm, "years": f"{first}-{last}"}
        for col, frame in wide.items():
            both = frame.drop_nulls([arms[0], arm])
            entry["n_dates"] = both.height
            mean, se = block_mean_se(both[arm].to_numpy())
            diff, diff_se = block_mean_se((both[arm] - both[arms[0]]).to_numpy())
            entry[col] = {"mean": round(mean, 4), "se": round(se, 4)}
            if arm != arms[0]:
                entry[col]["minus_" + arms[0]] = {"mean": round(diff, 4), "se": round(diff_se, 4)}
        out.append(entry)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SAMPLE)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--feature-set", default="m002+alpha158")
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--years", type=_years, default=(2008, 2015), help="test years, A-B")
    parser.add_argument("--report", type=_years, nargs="*", default=None,
                        help="ranges of test years to summarise (default: --years)")  # fmt: skip
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / "daily.parquet"
    daily = pl.read_parquet(store) if store.exists() else None
    if not args.summary_only:
        if not args.source.is_dir():
            print(f"skipped: {args.source} is absent", file=sys.stderr)
            return
        from m002._io import atomic_file
        from m002._schema import DATE
        from m002.evaluation import RunConfig, walk_forward_splits

        started = time.perf_counter()
        panel = build_panel(args.source, args.feature_set)
        run = RunConfig()
        walk = dataclasses.replace(run.walkforward, first_test_date="2008-01-01")
        folds = walk_forward_splits(
            panel[DATE].unique().sort(), walk, min_embargo=run.pipeline.label_reach + 1
        )
        print(f"panel {panel.shape} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        for fold in folds:
            if not args.years[0] <= fold.test_start.year <= args.years[1]:
                continue
            for arm in args.arms:
                done = (
                    daily is not None
                    and not daily.filter(
                        (pl.col("arm") == arm) & (pl.col("fold") == fold.index)
                    ).is_empty()
                )
                if done:
                    continue
                t0 = time.perf_counter()
                predicted = fit_and_predict(panel, fold, ARMS[arm], args.feature_set)
                ics = daily_rank_ic(predicted).with_columns(
                    pl.lit(arm).alias("arm"), pl.lit(fold.index).alias("fold")
                )
                daily = ics if daily is None else pl.concat([daily, ics], how="diagonal")
                with atomic_file(store) as part:  # after each fit: a stopped run resumes
                    daily.write_parquet(part)
                from_t, from_next = (np.nanmean(ics[c].to_numpy()) for c in ("ic_t", "ic_next"))
                print(
                    f"{fold.test_start.year} {arm}: rank IC {from_t:+.4f} (t), "
                    f"{from_next:+.4f} (t+1) in {time.perf_counter() - t0:.0f} s",
                    file=sys.stderr,
                )
    if daily is None:
        return
    for first, last in args.report or [args.years]:
        for entry in summary(daily.filter(pl.col("arm").is_in(args.arms)), first, last):
            print(json.dumps(entry))


if __name__ == "__main__":
    main()
