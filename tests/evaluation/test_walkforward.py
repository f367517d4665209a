"""The walk-forward end to end on a small synthetic universe: the run directory, the
look-ahead guard (changing prices after day t leaves every decision up to t as it was), the
cache on a re-run, and the backtest re-run at another cost."""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from m002._io import output_kind
from m002.data import write_synthetic
from m002.evaluation import (
    DAILY_COLUMNS,
    RUN_FILES,
    STRATEGIES,
    BacktestConfig,
    RunConfig,
    WalkForwardConfig,
    backtest_run,
    read_run_json,
    run_config_from_dict,
    run_walkforward,
)
from m002.exceptions import ConfigError, OutputExistsError, SchemaError
from m002.features import add_features
from m002.labels import (
    LABEL_COLUMNS,
    REGIME_LABEL_KNOWN,
    REGIME_STATE_ID,
    HMMLabeller,
    RegimeLabelConfig,
)
from m002.pipeline import CrossFitConfig, HeadParams, M002Config, RegimeFits, RegimeParams
from m002.policy import POLICY_COLUMNS, PolicyConfig, apply_policy
from m002.portfolio import PortfolioConfig
from m002.report import render_report

DECISIONS = [
    "action",
    "position_size",
    "position_size_no_state_probs",
    "policy_score",
    "target_weight",
]


def small_config() -> RunConfig:
    return RunConfig(
        pipeline=M002Config(
            regime=RegimeParams(max_epochs=2, hidden_size=16, batch_size=256),
            head=HeadParams(n_estimators=30),
            crossfit=CrossFitConfig(block="200d", min_fit_dates=150),
        ),
        walkforward=WalkForwardConfig(retrain_every="200d", min_train_dates=400),
    )


def hmm_config() -> RunConfig:
    """`small_config` with the HMM labeller."""
    config = small_config()
    labels = RegimeLabelConfig(method="hmm", hmm_n_iter=30)
    return dataclasses.replace(config, pipeline=dataclasses.replace(config.pipeline, labels=labels))


@pytest.fixture(scope="module")
def run_dir(prices: pl.DataFrame, cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    run_walkforward(prices, folder, small_config(), cache_dir=cache, verbose=False)
    return folder


@pytest.fixture(scope="module")
def hmm_run(
    prices: pl.DataFrame, cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[date, pl.DataFrame]]:
    """A run with the HMM labeller, and the labelled rows each layer-1 model was fitted on,
    by the model's fit end."""
    pytest.importorskip("hmmlearn")
    folder = tmp_path_factory.mktemp("hmm_run")
    fitted: dict[date, pl.DataFrame] = {}
    fit_rows = RegimeFits.fit_rows

    def spy(self: RegimeFits, rows: pl.DataFrame) -> pl.DataFrame:
        labelled = fit_rows(self, rows)
        fitted[labelled["date"].max()] = labelled
        return labelled

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(RegimeFits, "fit_rows", spy)
        run_walkforward(prices, folder, hmm_config(), cache_dir=cache, verbose=False)
    return folder, fitted


def test_the_run_directory_holds_every_file(run_dir: Path) -> None:
    for name in RUN_FILES.values():
        assert (run_dir / name).exists(), name
    for name in ("daily.parquet", "trades.parquet", "metrics.json"):
        assert (run_dir / "backtest" / name).is_file()
    metrics = json.loads((run_dir / "backtest" / "metrics.json").read_text())
    assert metrics["order"] == list(STRATEGIES)
    assert "252 trading days" in metrics["conventions"]
    daily = pl.read_parquet(run_dir / "backtest" / "daily.parquet")
    assert tuple(daily.columns) == DAILY_COLUMNS
    assert output_kind(run_dir) == "run"
    assert output_kind(run_dir / "backtest") == "backtest"
    assert [p.name for p in run_dir.parent.iterdir() if "m002-" in p.name] == []
    assert set(daily["strategy"].unique()) == set(STRATEGIES)


def _reject(constant: str) -> None:
    raise AssertionError(f"{constant} in a JSON file: browsers reject it")


def test_json_files_are_strict_json(run_dir: Path) -> None:
    for name in ("run.json", "evaluation.json", "backtest/metrics.json"):
        json.loads((run_dir / name).read_text(), parse_constant=_reject)


def test_folds_are_purged_and_tile_the_test_range(run_dir: Path, prices: pl.DataFrame) -> None:
    run = read_run_json(run_dir)
    calendar = prices["date"].unique().sort().to_list()
    folds = run["folds"]
    assert len(folds) >= 2
    for fold in folds:
        train_end = calendar.index(date.fromisoformat(fold["train_end"]))
        test_start = calendar.index(date.fromisoformat(fold["test_start"]))
        assert test_start - train_end - 1 >= 6  # horizon 5 + 1
    for before, after in itertools.pairwise(folds):
        gap = calendar.index(date.fromisoformat(after["test_start"])) - calendar.index(
            date.fromisoformat(before["test_end"])
        )
        assert gap == 1
    predictions = pl.read_parquet(run_dir / RUN_FILES["predictions"])
    assert predictions["date"].min() == date.fromisoformat(folds[0]["test_start"])
    assert predictions["date"].max() == calendar[-1]
    assert predictions.select("ticker", "date").is_duplicated().sum() == 0
    assert not predictions["in_sample"].any()  # no test row lies in its model's training period
    for fold in folds:
        rows = predictions.filter(pl.col("fold") == fold["fold"])
        assert rows["date"].min() == date.fromisoformat(fold["test_start"])
        assert rows["date"].max() == date.fromisoformat(fold["test_end"])
        assert rows.height == fold["n_test_rows"]


def test_signals_cover_the_predictions_for_every_strategy(run_dir: Path) -> None:
    signals = pl.read_parquet(run_dir / RUN_FILES["signals"])
    predictions = pl.read_parquet(run_dir / RUN_FILES["predictions"])
    assert signals.select("ticker", "date").equals(predictions.select("ticker", "date"))
    assert set(STRATEGIES) <= set(signals.columns)
    # the spec's own policy re-applied to the same predictions (the run's policy is the default)
    spec = apply_policy(predictions.sort("ticker", "date"), PolicyConfig.spec())
    assert signals["m002_spec"].to_list() == spec["position_size"].fill_null(0.0).to_list()
    assert signals["m002"].to_list() == predictions["target_weight"].to_list()
    # the ablation is a different head, hence different positions somewhere
    assert not signals["m002"].equals(signals["m002_no_state_probs"])
    assert signals["buy_and_hold"].min() == 1.0
    assert set(signals["regime_rule"].unique()) <= {-1.0, 0.0, 1.0}


def test_evaluation_has_metrics_per_fold_and_the_report_inputs(run_dir: Path) -> None:
    evaluation = json.loads((run_dir / RUN_FILES["evaluation"]).read_text())
    run = read_run_json(run_dir)
    assert [f["fold"] for f in evaluation["folds"]] == [f["fold"] for f in run["folds"]]
    for fold in evaluation["folds"]:
        assert 0.0 <= fold["base_rate"] <= 1.0
        assert fold["regime_macro_f1"] is not None
        assert 0.0 <= fold["regime_all_rows_macro_f1"] <= 1.0
    # six outcomes (the five states and no state) over every row with a known outcome
    counts = np.array(evaluation["confusion_matrix"]["counts"])
    assert counts.shape == (6, 6)
    assert counts.sum() == evaluation["overall"]["n_regime_all_rows"]
    assert evaluation["overall"]["n_regime_all_rows"] > evaluation["overall"]["n_regime_rows"]
    reliability = evaluation["regime_reliability"]
    assert reliability  # one table per outcome, drawn by the report
    assert sum(b["n"] for b in evaluation["calibration"]["bins"]) == evaluation["overall"]["n_rows"]
    stats = evaluation["feature_by_regime"]
    assert "rsi_14" in stats["features"]
    some = next(iter(stats["stats"]["rsi_14"].values()))
    assert some["q05"] <= some["q25"] <= some["q50"] <= some["q75"] <= some["q95"]


@pytest.mark.parametrize("method", ["priority", "hmm"])
def test_changing_prices_after_t_leaves_every_decision_up_to_t(
    method: str, request: pytest.FixtureRequest, prices: pl.DataFrame, cache: Path, tmp_path: Path
) -> None:
    if method == "priority":
        run_dir, config = request.getfixturevalue("run_dir"), small_config()
    else:
        run_dir, config = request.getfixturevalue("hmm_run")[0], hmm_config()
    run = read_run_json(run_dir)
    second = run["folds"][1]
    calendar = prices["date"].unique().sort()
    t = calendar.filter(calendar >= date.fromisoformat(second["test_start"]))[20]
    rng = np.random.default_rng(0)
    after = pl.col("date") > t
    factor = pl.Series(rng.uniform(0.5, 1.5, prices.height))
    shocked = prices.with_columns(
        pl.when(after).then(pl.col(c) * factor).otherwise(pl.col(c)).alias(c)
        for c in ("open", "high", "low", "close")
    ).with_columns(
        pl.max_horizontal("open", "high", "low", "close").alias("high"),
        pl.min_horizontal("open", "high", "low", "close").alias("low"),
    )
    run_walkforward(shocked, tmp_path / "run", config, cache_dir=cache, verbose=False)

    def upto(folder: Path, name: str) -> pl.DataFrame:
        return pl.read_parquet(folder / name).filter(pl.col("date") <= t).sort("ticker", "date")

    before_p, after_p = (
        upto(run_dir, "predictions.parquet"),
        upto(tmp_path / "run", "predictions.parquet"),
    )
    assert before_p.height > 0
    assert before_p.select(DECISIONS).equals(after_p.select(DECISIONS))
    assert upto(run_dir, "signals.parquet").equals(upto(tmp_path / "run", "signals.parquet"))
    # the labels layer 1 is scored on look `lookahead` dates ahead, no further
    settled = calendar[calendar.search_sorted(t) - config.pipeline.labels.lookahead]
    labels = [REGIME_STATE_ID, REGIME_LABEL_KNOWN]
    assert (
        before_p.filter(pl.col("date") <= settled)
        .select(labels)
        .equals(after_p.filter(pl.col("date") <= settled).select(labels))
    )
    # and the shock did reach the decisions after t
    later = pl.read_parquet(tmp_path / "run" / "predictions.parquet").filter(pl.col("date") > t)
    original = pl.read_parquet(run_dir / "predictions.parquet").filter(pl.col("date") > t)
    assert not later["policy_score"].equals(original["policy_score"])


def test_a_rerun_reads_every_fold_from_the_cache(
    run_dir: Path,
    prices: pl.DataFrame,
    cache: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run = run_walkforward(prices, tmp_path / "again", small_config(), cache_dir=cache)
    # every layer-1 model is in the cache: no worker is started to read them back
    said = capsys.readouterr().out
    models = read_run_json(run_dir)["layer1_models"]["fitted_before_folds"]
    assert f"layer 1: {models} models, all read back from the cache" in said
    assert " done (dates up to " not in said
    assert run["layer1_models"]["fitted_before_folds"] == 0
    assert all(f["train"]["cache"]["regime_hit"] for f in run["folds"])
    assert all(f["train"]["cache"]["head_hit"] for f in run["folds"])
    first = pl.read_parquet(run_dir / RUN_FILES["signals"])
    assert first.equals(pl.read_parquet(tmp_path / "again" / RUN_FILES["signals"]))


def test_backtest_rerun_at_another_cost(run_dir: Path, tmp_path: Path) -> None:
    base = pl.read_parquet(run_dir / "backtest" / "daily.parquet")
    result, metrics = backtest_run(run_dir, BacktestConfig(cost_bps=50.0), out_dir=tmp_path)
    assert metrics["costs"]["cost_bps"] == 50.0
    assert (tmp_path / "metrics.json").is_file()
    assert result.daily["gross_return"].equals(base["gross_return"])
    assert (result.daily["cost"] >= base["cost"]).all()
    assert result.daily["cost"].sum() == pytest.approx(base["cost"].sum() * 5.0)


def test_run_dir_errors(tmp_path: Path, prices: pl.DataFrame) -> None:
    with pytest.raises(FileNotFoundError, match="m002 walkforward"):
        backtest_run(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="not an m002 output"):
        run_walkforward(prices, tmp_path, small_config(), verbose=False)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_run_config_from_dict_with_evaluation_sections() -> None:
    cfg = run_config_from_dict(
        {"walkforward": {"retrain_every": "6m"}, "backtest": {"cost_bps": 5}, "policy": {"k": 1.0}}
    )
    assert cfg.walkforward.retrain_every == "6m"
    assert cfg.backtest.cost_bps == 5.0
    assert cfg.pipeline.policy.k == 1.0
    with pytest.raises(ConfigError, match="did you mean `walkforward`"):
        run_config_from_dict({"walkfoward": {}})
    with pytest.raises(ConfigError, match=r"\[backtest\].*cost_bps"):
        run_config_from_dict({"backtest": {"cost_bps": -1}})


def test_a_fold_too_short_to_train_says_which_fold(prices: pl.DataFrame, tmp_path: Path) -> None:
    config = small_config()
    short = RunConfig(
        pipeline=dataclasses.replace(
            config.pipeline, crossfit=CrossFitConfig(block="200d", min_fit_dates=150)
        ),
        walkforward=WalkForwardConfig(retrain_every="200d", min_train_dates=120),
    )
    with pytest.raises(SchemaError, match=r"walk-forward fold 1/\d+ \(train .* 120 dates\)"):
        run_walkforward(prices, tmp_path / "run", short, cache_dir=tmp_path / "c", verbose=False)


def test_a_rolling_window_trains_each_fold_on_its_last_dates_only(
    prices: pl.DataFrame, cache: Path, tmp_path: Path
) -> None:
    config = dataclasses.replace(
        small_config(),
        walkforward=WalkForwardConfig(
            retrain_every="200d", window="rolling", train_dates=400, min_train_dates=400
        ),
    )
    run = run_walkforward(prices, tmp_path / "run", config, cache_dir=cache, verbose=False)
    calendar = prices["date"].unique().sort().to_list()
    for fold in run["folds"]:
        start, end = (date.fromisoformat(fold[k]) for k in ("train_start", "train_end"))
        assert calendar.index(end) - calendar.index(start) + 1 == 400
        n_rows = prices.filter(pl.col("date").is_between(start, end)).height
        assert fold["n_train_rows"] == n_rows
    assert run["folds"][1]["train_start"] > run["folds"][0]["train_start"]


def test_without_the_cache_nothing_is_kept_and_the_run_is_the_same(
    run_dir: Path, prices: pl.DataFrame, tmp_path: Path
) -> None:
    unused = tmp_path / "cache"
    run_walkforward(
        prices, tmp_path / "run", small_config(), cache_dir=unused, use_cache=False, verbose=False
    )
    assert not unused.exists()
    first = pl.read_parquet(run_dir / RUN_FILES["signals"])
    assert first.equals(pl.read_parquet(tmp_path / "run" / RUN_FILES["signals"]))


def test_a_synthetic_folder_adds_the_oracle_on_its_true_regimes(
    cache: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    write_synthetic(data, n_tickers=10, n_days=800, seed=11)
    run = run_walkforward(data, tmp_path / "run", small_config(), cache_dir=cache, verbose=False)
    assert {"oracle_regime", "oracle_regime_long_only"} <= set(run["strategies"])
    sharpe = {name: row["sharpe"] for name, row in run["backtest"]["strategies"].items()}
    # the planted structure is worth far more than holding the market
    assert sharpe["oracle_regime"] > sharpe["buy_and_hold"] + 1.0
    # the predictions carry the book the m002 row trades, run across the test blocks
    predictions = pl.read_parquet(tmp_path / "run" / RUN_FILES["predictions"])
    signals = pl.read_parquet(tmp_path / "run" / RUN_FILES["signals"])
    joined = predictions.join(signals, on=["ticker", "date"])
    assert joined["target_weight"].equals(joined["m002"].alias("target_weight"))
    # the report's strategy table shows the system beside the oracle
    page = render_report(tmp_path / "run", tmp_path / "report.html").read_text()
    table = page[page.index('id="strategy-table"') :]
    table = table[: table.index("</table>")]
    for name in ("m002", "buy_and_hold", "oracle_regime", "oracle_regime_long_only"):
        assert f"<strong>{name}</strong>" in table


def test_a_run_decided_anew_with_its_own_policy_reproduces_its_decisions(run_dir: Path) -> None:
    predictions = pl.read_parquet(run_dir / RUN_FILES["predictions"]).sort("ticker", "date")
    policy = small_config().pipeline.policy
    again = apply_policy(predictions.drop(POLICY_COLUMNS), policy)
    # each fold decided with its own history; decided anew, a ticker's first vol_window - 1
    # test rows have no volatility estimate yet: from then on the columns agree
    settled = pl.int_range(pl.len()).over("ticker") >= policy.vol_window - 1
    for column in POLICY_COLUMNS:
        ran, anew = (f.filter(settled)[column] for f in (predictions, again))
        if ran.dtype.is_float():
            assert (ran - anew).abs().max() < 1e-12  # type: ignore[operator]
        else:
            assert ran.equals(anew)


def test_backtest_decides_a_run_anew_with_another_policy_and_portfolio(
    run_dir: Path, tmp_path: Path
) -> None:
    decisions = dataclasses.replace(
        small_config().pipeline,
        policy=PolicyConfig.spec(),
        portfolio=PortfolioConfig(long_only=False, trade_rate=0.5),
    )
    out = tmp_path / "spec_decisions"
    result, metrics = backtest_run(run_dir, out_dir=out, decisions=decisions)
    assert metrics["decisions"]["policy"]["score_form"] == "spec"
    assert metrics["decisions"]["portfolio"]["trade_rate"] == 0.5
    new = pl.read_parquet(out / RUN_FILES["signals"])
    old = pl.read_parquet(run_dir / RUN_FILES["signals"])
    assert new.select("ticker", "date").equals(old.select("ticker", "date"))
    assert not new["m002"].equals(old["m002"])
    # a dollar-neutral book now, and the baselines do not depend on the decisions
    assert new.group_by("date").agg(pl.col("m002").sum())["m002"].abs().max() < 1e-12
    assert new["buy_and_hold"].equals(old["buy_and_hold"])
    assert set(result.strategies) == set(metrics["strategies"])


def test_backtest_refuses_decisions_whose_other_sections_differ(
    run_dir: Path, tmp_path: Path
) -> None:
    pipeline = small_config().pipeline
    other_head = dataclasses.replace(
        pipeline, head=dataclasses.replace(pipeline.head, target="raw")
    )
    with pytest.raises(ConfigError, match=r"\[head\] of the config differ"):
        backtest_run(run_dir, out_dir=tmp_path / "x", decisions=other_head)
    assert not (tmp_path / "x").exists()


def test_layer1_models_are_fitted_once_before_the_folds(run_dir: Path) -> None:
    run = read_run_json(run_dir)
    models = run["layer1_models"]
    assert models["fitted_before_folds"] >= 2
    # every fold reads its blocks' models and its final one back: none is fitted in a fold
    assert models["fitted_in_folds"] == 0
    assert models["read_back_in_folds"] >= len(run["folds"])
    assert all(f["train"]["cache"]["regime_models_fitted"] == 0 for f in run["folds"])


def test_hmm_test_blocks_are_scored_on_the_labels_of_each_folds_final_model(
    hmm_run: tuple[Path, dict[date, pl.DataFrame]], prices: pl.DataFrame
) -> None:
    folder, fitted = hmm_run
    run = read_run_json(folder)
    labels = hmm_config().pipeline.labels
    # each model is keyed by the HMM's inputs: the folds read back what was fitted before
    assert run["layer1_models"]["fitted_in_folds"] == 0
    predictions = pl.read_parquet(folder / RUN_FILES["predictions"])
    calendar = prices["date"].unique().sort()
    features = add_features(prices, "m002").collect()
    gap = hmm_config().pipeline.regime.seq_len + labels.lookahead
    keys = ["ticker", "date", *LABEL_COLUMNS]
    scored = ["ticker", "date", REGIME_STATE_ID, REGIME_LABEL_KNOWN]
    for fold in run["folds"]:
        start, end = (date.fromisoformat(fold[k]) for k in ("test_start", "test_end"))
        fit_end = calendar[calendar.search_sorted(start) - 1 - gap]
        # the fold's final model fits on its training rows up to `fit_end` (expanding window)
        own = features.filter(pl.col("date") <= fit_end)
        labeller = HMMLabeller.from_config(labels).fit(own)
        # the labels that model trained on are this labeller's
        assert fitted[fit_end].select(keys).equals(labeller.assign(own).collect().select(keys))
        expected = labeller.assign(features).filter(pl.col("date").is_between(start, end)).collect()
        got = predictions.filter(pl.col("fold") == fold["fold"]).sort("ticker", "date")
        assert got.height == expected.height > 0
        assert got.select(scored).equals(expected.select(scored))
        assert got[REGIME_LABEL_KNOWN].any()
    # and the per-fold metrics are computed on them
    evaluation = json.loads((folder / RUN_FILES["evaluation"]).read_text())
    assert all(f["n_regime_all_rows"] for f in evaluation["folds"])
