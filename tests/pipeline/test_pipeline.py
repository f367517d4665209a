from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from m002.cli import main
from m002.data import generate_synthetic
from m002.evaluation import ExecutorConfig
from m002.exceptions import ConfigError, NotFittedError, SchemaError
from m002.features import add_features, ticker_chunks
from m002.labels import LABEL_COLUMNS, HMMLabeller, TargetConfig
from m002.pipeline import (
    OUTPUT_COLUMNS,
    CrossFitConfig,
    HeadParams,
    M002Config,
    M002FullArchitecture,
    RegimeFits,
    RegimeParams,
    block_plan,
    config_from_dict,
    config_to_dict,
)
from m002.pipeline._architecture import _windows_from
from m002.policy import PolicyConfig

SMALL = M002Config(
    regime=RegimeParams(max_epochs=3, hidden_size=16), head=HeadParams(n_estimators=60)
)


@pytest.fixture(scope="module")
def prices() -> pl.DataFrame:
    return generate_synthetic(n_tickers=20, n_days=1000, seed=4).prices


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def trained(prices: pl.DataFrame, cache_dir: Path) -> M002FullArchitecture:
    return M002FullArchitecture(SMALL, cache_dir=cache_dir, verbose=False).train(prices)


def test_block_plan_exact_bounds_and_purge_gap() -> None:
    calendar = pl.Series(pl.date_range(date(2020, 1, 1), date(2020, 1, 20), eager=True))
    plan = block_plan(calendar, block="5d", gap=2, history=3, min_fit_dates=1)
    # blocks of 5 dates: [0-4], [5-9], [10-14], [15-19]; fits end 1 + gap dates before a block
    assert [p["fold"] for p in plan] == [1, 2, 3]
    assert [p["fit_end"].day for p in plan] == [3, 8, 13]
    assert [p["predict_start"].day for p in plan] == [6, 11, 16]
    assert [p["predict_end"].day for p in plan] == [10, 15, 20]
    assert [p["history_start"].day for p in plan] == [3, 8, 13]
    # a block is predicted only when its fit sees at least min_fit_dates dates
    later = block_plan(calendar, block="5d", gap=2, history=3, min_fit_dates=4)
    assert [p["fold"] for p in later] == [2, 3]


def test_calendar_blocks_start_on_the_first_trading_date_of_each_period() -> None:
    calendar = pl.Series(pl.date_range(date(2019, 11, 1), date(2021, 3, 31), eager=True))
    calendar = calendar.filter(calendar.dt.weekday() <= 5)
    years = block_plan(calendar, block="1y", gap=5, history=10, min_fit_dates=20)
    assert [str(p["predict_start"]) for p in years] == ["2020-01-01", "2021-01-01"]
    assert [str(p["predict_end"]) for p in years] == ["2020-12-31", "2021-03-31"]
    half = block_plan(calendar, block="6m", gap=5, history=10, min_fit_dates=20)
    assert [str(p["predict_start"]) for p in half] == ["2020-01-01", "2020-07-01", "2021-01-01"]
    with pytest.raises(ConfigError, match="`block` must look like"):
        block_plan(calendar, block="1w", gap=5, history=10, min_fit_dates=20)


def test_crossfit_probabilities_come_from_models_that_never_saw_the_row(
    trained: M002FullArchitecture, prices: pl.DataFrame
) -> None:
    gap = SMALL.regime.seq_len + SMALL.labels.lookahead
    folds = trained.trained_state["regime"]["folds"]
    plan = block_plan(
        prices["date"].unique().sort(),
        block=SMALL.crossfit.block,
        gap=gap,
        history=2 * SMALL.regime.seq_len,
        min_fit_dates=SMALL.crossfit.min_fit_dates,
    )
    assert [fold["fold"] for fold in folds] == [str(p["fold"]) for p in plan]
    assert len(folds) >= 1
    calendar = trained.trained_state["dates"]
    assert calendar[0] < folds[0]["fit_end"]
    for fold in folds:
        fit_end, start = (
            date.fromisoformat(fold["fit_end"]),
            date.fromisoformat(fold["predict_start"]),
        )
        # a fitted label looks `lookahead` dates past fit_end; all of that is before the block
        assert (start - fit_end).days > gap
    assert trained.trained_state["regime"]["crossfit"]["folds"] == [p["fold"] for p in plan]


def test_each_block_model_is_fitted_once_across_trainings(
    prices: pl.DataFrame, tmp_path: Path
) -> None:
    config = dataclasses.replace(
        SMALL, crossfit=CrossFitConfig(block="100d", min_fit_dates=300, warm_start_epochs=1)
    )
    calendar = prices["date"].unique().sort()
    gap = config.regime.seq_len + config.labels.lookahead
    first = M002FullArchitecture(config, cache_dir=tmp_path, verbose=False).train(
        prices.filter(pl.col("date") < calendar[700]), regime_fit_end=calendar[700 - 1 - gap]
    )
    # blocks from 400, 500, 600 (the one from 300 would fit on fewer than 300 dates), and a
    # final model that stops where the block from 700 would
    assert first.trained_state["regime"]["crossfit"]["folds"] == [4, 5, 6]
    cache = first.trained_state["cache"]
    assert (cache["regime_models_fitted"], cache["regime_models_read_back"]) == (4, 0)
    second = M002FullArchitecture(config, cache_dir=tmp_path, verbose=False).train(
        prices.filter(pl.col("date") < calendar[800])
    )
    assert second.trained_state["regime"]["crossfit"]["folds"] == [4, 5, 6, 7]
    cache = second.trained_state["cache"]
    # the four block models come back (the block from 700 is the first training's final
    # model); only the second training's final model is new
    assert (cache["regime_models_fitted"], cache["regime_models_read_back"]) == (1, 4)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_worker_processes_train_the_local_model_bit_for_bit(
    trained: M002FullArchitecture, prices: pl.DataFrame, tmp_path: Path
) -> None:
    # without the stage cache, the workers hand their models back through a temporary one
    model = M002FullArchitecture(SMALL, cache_dir=tmp_path / "c", use_cache=False, verbose=False)
    model.train(prices, executor=ExecutorConfig("processes", workers=2))
    assert not (tmp_path / "c").exists()
    blocks = len(trained.trained_state["regime"]["folds"])
    assert blocks >= 2  # several models, fitted side by side
    cache = model.trained_state["cache"]
    assert (cache["regime_models_fitted"], cache["regime_models_read_back"]) == (blocks + 1, 0)
    trained.save(tmp_path / "local")
    model.save(tmp_path / "workers")
    assert _files(tmp_path / "workers" / "regime") == _files(tmp_path / "local" / "regime")
    assert _files(tmp_path / "workers" / "head") == _files(tmp_path / "local" / "head")
    assert json.dumps(model.trained_state["regime"]) == json.dumps(trained.trained_state["regime"])


def test_a_training_fits_only_the_layer_1_models_not_in_the_cache(
    trained: M002FullArchitecture,
    prices: pl.DataFrame,
    cache_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 50 dates fewer than `trained`: the same blocks, whose models are cached, a new final one
    shorter = prices.filter(pl.col("date") < prices["date"].unique().sort()[-50])
    capsys.readouterr()
    model = M002FullArchitecture(SMALL, cache_dir=cache_dir).train(
        shorter, executor=ExecutorConfig("processes", workers=2)
    )
    blocks = len(model.trained_state["regime"]["folds"])
    assert blocks == len(trained.trained_state["regime"]["folds"])
    cache = model.trained_state["cache"]
    assert (cache["regime_models_fitted"], cache["regime_models_read_back"]) == (1, blocks)
    said = capsys.readouterr().out
    # one model to fit: in this process, not in a worker started for it
    assert (
        f"layer 1: 1 of {blocks + 1} models to fit ({blocks} read back from the cache), "
        "in this process" in said
    )


def test_head_split_has_a_purge_gap_of_the_horizon(trained: M002FullArchitecture) -> None:
    split = trained.trained_state["head"]["split"]
    assert split["purge_dates"] >= SMALL.targets.horizon
    assert date.fromisoformat(split["train_end"]) < date.fromisoformat(split["valid_start"])
    held = trained.trained_state["head"]["held_out"]
    assert 0 <= held["base_rate"] <= 1
    assert held["average_precision"] is not None
    assert held["ic"]["n_dates"] > 50


@pytest.mark.parametrize("horizon", [10, 20])
def test_head_purge_follows_the_horizon(
    prices: pl.DataFrame, cache_dir: Path, horizon: int
) -> None:
    config = dataclasses.replace(SMALL, targets=TargetConfig(horizon=horizon))
    assert config.label_reach == horizon  # so a walk-forward's embargo is horizon + 1
    model = M002FullArchitecture(config, cache_dir=cache_dir, verbose=False).train(prices)
    split = model.trained_state["head"]["split"]
    calendar = prices["date"].unique().sort()
    train_end, valid_start = (date.fromisoformat(split[k]) for k in ("train_end", "valid_start"))
    between = calendar.filter((calendar > train_end) & (calendar < valid_start)).len()
    # the last training row's target ends `horizon` dates later, still before the block
    assert split["purge_dates"] == between == horizon + 1
    head = model.trained_state["head"]["held_out"]
    assert head["ic"]["n_dates"] > 0


def test_predict_frame_has_every_output_column_and_the_default_book(
    trained: M002FullArchitecture, prices: pl.DataFrame
) -> None:
    out = trained.predict(prices)
    assert out.columns == list(OUTPUT_COLUMNS)
    assert out.height == prices.height
    # the policy's action is reported beside the book, which ranks the head's expected return
    assert set(out["action"].unique()) <= {"LONG", "SHORT", "FLAT"}
    last = out.filter(pl.col("date") == out["date"].max(), pl.col("pred_expected_ret_pct") > -1e9)
    assert (last["target_weight"] > 0).mean() > 0.5  # a tilt holds most of the universe
    no_state = out.filter(pl.col("state_prob_Peak").is_null())
    assert no_state["pred_rebound_prob"].null_count() == no_state.height
    assert (no_state["action"] == "FLAT").all()
    assert (no_state["position_size"] == 0).all()
    assert (no_state["target_weight"] == 0).all()
    # the default portfolio is a long-only rank tilt, gross at most 1, 10% cap per name
    book = out.group_by("date").agg(pl.col("target_weight").abs().sum())
    assert out["target_weight"].min() >= 0.0
    assert 0.0 < book["target_weight"].max() <= 1.0 + 1e-12
    assert out["target_weight"].abs().max() <= 0.1 + 1e-12


def test_asof_predicts_one_date_from_its_history_only(
    trained: M002FullArchitecture, prices: pl.DataFrame
) -> None:
    full = trained.predict(prices)
    day = prices["date"].max()
    latest = trained.predict(prices, asof="latest")
    assert latest["date"].unique().to_list() == [day]
    assert latest.height == prices["ticker"].n_unique()
    # reading only history_days() before the date gives the decisions of the full run: EWM
    # features differ only in the last bits once their start has decayed away
    middle = prices["date"].unique().sort()[800]
    for one_day, when in ((latest, day), (trained.predict(prices, asof=middle), middle)):
        expected = full.filter(pl.col("date") == when)
        exact = ["ticker", "date", "action", "in_sample"]
        assert one_day.select(exact).equals(expected.select(exact))
        numeric = [c for c in OUTPUT_COLUMNS if c not in exact]
        diff = (one_day.select(numeric) - expected.select(numeric)).select(pl.all().abs().max())
        assert max(v or 0.0 for v in diff.row(0)) < 1e-6


def test_layer_1_reads_only_the_windows_it_scores_for_one_day(
    trained: M002FullArchitecture, prices: pl.DataFrame
) -> None:
    features = add_features(prices, "m002", assume_sorted=True).collect()
    since = prices["date"].unique().sort()[-30]
    regime = trained.regime_
    windows = _windows_from(features, since, regime.seq_len)
    # per ticker: its 30 last dates and the seq_len - 1 rows before them their windows hold
    lengths = windows.group_by("ticker").len()["len"].unique().to_list()
    assert lengths == [30 + regime.seq_len - 1]
    whole = regime.predict_probabilities(features, since=since)
    part = regime.predict_probabilities(windows, since=since)
    keys = features.select("ticker", "date")
    assert keys.join(part, on=["ticker", "date"], how="left").equals(whole)  # bit for bit
    assert whole["state_prob_Peak"].drop_nulls().len() == 30 * prices["ticker"].n_unique()


def test_save_load_round_trip_gives_identical_predictions(
    trained: M002FullArchitecture, prices: pl.DataFrame, tmp_path: Path
) -> None:
    trained.save(tmp_path / "model")
    assert {p.name for p in (tmp_path / "model").iterdir()} >= {
        "regime", "head", "config.json", "feature_schema.json", "metrics.json", "manifest.json",
    }  # fmt: skip
    assert not list((tmp_path / "model").rglob("*.pkl"))
    loaded = M002FullArchitecture.load(tmp_path / "model", use_cache=False, verbose=False)
    assert loaded.predict(prices).equals(trained.predict(prices))
    assert loaded.config == trained.config


def test_loading_against_another_feature_schema_is_a_clear_error(
    trained: M002FullArchitecture, prices: pl.DataFrame, tmp_path: Path
) -> None:
    trained.save(tmp_path / "model")
    loaded = M002FullArchitecture.load(tmp_path / "model", use_cache=False, verbose=False)
    # as a model trained by another version would hold it (editing the file itself is
    # caught earlier, by the checksums: test_model_folder.py)
    loaded.feature_schema_ = {
        **loaded.feature_schema_,
        "curv_2": "Float32",
        "a_feature_from_a_newer_version": "Float64",
    }
    with pytest.raises(SchemaError, match="curv_2: expected Float32, got Float64"):
        loaded.predict(prices)


def test_policy_only_change_reuses_layers_1_and_2(
    trained: M002FullArchitecture, prices: pl.DataFrame, cache_dir: Path
) -> None:
    config = M002Config(regime=SMALL.regime, head=SMALL.head, policy=PolicyConfig.spec())
    again = M002FullArchitecture(config, cache_dir=cache_dir, verbose=False).train(prices)
    assert again.trained_state["cache"] == {
        "features_hit": True, "regime_hit": True, "head_hit": True,
        "regime_models_fitted": 0, "regime_models_read_back": 0,
    }  # fmt: skip
    # the same held-out metrics (compared as JSON: a NaN IC ratio is not equal to itself)
    assert json.dumps(again.trained_state["head"]) == json.dumps(trained.trained_state["head"])
    assert again.trained_state["policy"] != trained.trained_state["policy"]
    # a regime change misses the regime stage (and so the head stage downstream)
    changed = M002Config(regime=RegimeParams(max_epochs=2, hidden_size=16), head=SMALL.head)
    missed = M002FullArchitecture(changed, cache_dir=cache_dir, verbose=False).train(prices)
    assert not missed.trained_state["cache"]["regime_hit"]
    assert not missed.trained_state["cache"]["head_hit"]


def test_no_cache_writes_nothing(prices: pl.DataFrame, tmp_path: Path) -> None:
    small = prices.filter(pl.col("ticker").is_in(["SYN0000", "SYN0001", "SYN0002", "SYN0003"]))
    # four names are too few to rank: the return model stops on its loss
    config = dataclasses.replace(
        SMALL, head=dataclasses.replace(SMALL.head, return_stopping="loss")
    )
    M002FullArchitecture(config, cache_dir=tmp_path, use_cache=False, verbose=False).train(small)
    assert not any(tmp_path.iterdir())


def test_a_universe_too_small_to_rank_is_refused_naming_the_fix(
    prices: pl.DataFrame, tmp_path: Path
) -> None:
    small = prices.filter(pl.col("ticker").is_in(["SYN0000", "SYN0001", "SYN0002", "SYN0003"]))
    with pytest.raises(SchemaError, match="return_stopping='loss'"):
        M002FullArchitecture(SMALL, cache_dir=tmp_path, verbose=False).train(small)


def test_not_trained_error(prices: pl.DataFrame) -> None:
    with pytest.raises(NotFittedError, match="not trained"):
        M002FullArchitecture(verbose=False).predict(prices)


def test_config_from_dict_round_trip_and_clear_errors() -> None:
    assert config_from_dict(config_to_dict(SMALL)) == SMALL
    assert config_from_dict({"policy": {"k": 3}}).policy.k == 3.0
    with pytest.raises(
        ConfigError, match=r"\[policy\].*`risk_aversio`.*did you mean `risk_aversion`"
    ):
        config_from_dict({"policy": {"risk_aversio": 1.0}})
    with pytest.raises(ConfigError, match=r"unknown key.*`polcy`"):
        config_from_dict({"polcy": {}})
    with pytest.raises(ConfigError, match=r"\[regime\] max_epochs must be of type int"):
        config_from_dict({"regime": {"max_epochs": "ten"}})
    with pytest.raises(ConfigError, match=r"\[regime\].*`seq_len` must be >= 2"):
        config_from_dict({"regime": {"seq_len": 1}})
    with pytest.raises(ConfigError, match=r"\[targets\]"):
        config_from_dict({"targets": {"horizon": 0}})


def test_the_pipeline_trains_on_hmm_labels_each_model_fitted_on_its_own_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("hmmlearn")
    prices = generate_synthetic(n_tickers=8, n_days=600, seed=6).prices
    config = dataclasses.replace(
        SMALL,
        labels=config_from_dict({"labels": {"method": "hmm", "hmm_n_iter": 30}}).labels,
        crossfit=CrossFitConfig(block="150d", min_fit_dates=150),
    )
    labelled_for_models: list[pl.DataFrame] = []
    fit_rows = RegimeFits.fit_rows

    def spy(self: RegimeFits, rows: pl.DataFrame) -> pl.DataFrame:
        labelled_for_models.append(fit_rows(self, rows))
        return labelled_for_models[-1]

    monkeypatch.setattr(RegimeFits, "fit_rows", spy)
    model = M002FullArchitecture(config, cache_dir=tmp_path, verbose=False).train(prices)
    state = model.trained_state
    folds = state["regime"]["folds"]
    # one labelling per model: each block's and the final one (every training row)
    assert len(labelled_for_models) == len(folds) + 1 == state["cache"]["regime_models_fitted"]
    features = add_features(prices, "m002").collect()
    first_fit_end = date.fromisoformat(folds[0]["fit_end"])
    for labelled, fit_end in [
        (labelled_for_models[0], first_fit_end),
        (labelled_for_models[-1], None),
    ]:
        own = features if fit_end is None else features.filter(pl.col("date") <= fit_end)
        assert labelled["date"].max() == own["date"].max()
        by_hand = HMMLabeller.from_config(config.labels).fit(own).assign(own).collect()
        keys = ["ticker", "date", *LABEL_COLUMNS]
        assert labelled.select(keys).equals(by_hand.select(keys))
    # the first block's HMM saw its rows only: its labels differ from the final model's
    first_rows = labelled_for_models[-1].filter(pl.col("date") <= first_fit_end)
    assert not labelled_for_models[0]["regime_state_id"].equals(first_rows["regime_state_id"])
    assert state["regime"]["crossfit"]["n"] > 0
    assert model.predict(prices, asof="latest").height == 8
    # trained again, layer 1 is read back and no HMM is fitted, not even the one whose labels
    # score the out-of-fold probabilities: that score is kept with them
    hmm_fits: list[int] = []
    hmm_fit = HMMLabeller.fit

    def counted(self: HMMLabeller, *args: Any, **kwargs: Any) -> HMMLabeller:
        hmm_fits.append(len(args[0]) if args else 0)
        return hmm_fit(self, *args, **kwargs)

    monkeypatch.setattr(HMMLabeller, "fit", counted)
    again = M002FullArchitecture(config, cache_dir=tmp_path, verbose=False).train(prices)
    assert again.trained_state["cache"]["regime_hit"]
    assert hmm_fits == []
    assert json.dumps(again.trained_state["regime"]) == json.dumps(state["regime"])


def test_cli_train_and_predict_with_a_config_file(tmp_path: Path, prices: pl.DataFrame) -> None:
    data = tmp_path / "data"
    small = prices.filter(pl.col("ticker").is_in([f"SYN{i:04d}" for i in range(8)]))
    data.mkdir()
    for (ticker,), rows in small.group_by("ticker"):
        rows.drop("ticker").write_parquet(data / f"{ticker}.parquet")
    config = tmp_path / "m002.toml"
    config.write_text("[regime]\nmax_epochs = 2\nhidden_size = 8\n[head]\nn_estimators = 30\n")
    runner = CliRunner()
    cache = ["--cache-dir", str(tmp_path / "cache")]
    trained = runner.invoke(
        main,
        [
            "train",
            str(data),
            "--out",
            str(tmp_path / "model"),
            "--config",
            str(config),
            "--workers",
            "2",
            *cache,
        ],
    )
    assert trained.exit_code == 0, trained.output
    assert "layer 1: " in trained.stdout
    assert " models to fit, in 2 worker processes" in trained.stdout  # the default executor
    assert "AP" in trained.stdout
    assert "base rate" in trained.stdout
    out = tmp_path / "today.csv"
    predicted = runner.invoke(
        main,
        [
            "predict",
            str(tmp_path / "model"),
            str(data),
            "--asof",
            "latest",
            "--out",
            str(out),
            *cache,
        ],
    )
    assert predicted.exit_code == 0, predicted.output
    decisions = pl.read_csv(out)
    assert decisions.height == 8
    assert set(decisions.columns) == set(OUTPUT_COLUMNS)
    bad = tmp_path / "bad.toml"
    bad.write_text("[policy]\nthetalong = 0.1\n")
    refused = runner.invoke(main, ["train", str(data), "--out", "x", "--config", str(bad)])
    assert refused.exit_code == 2
    assert "did you mean `theta_long`" in refused.output


def test_decisions_are_a_to_pandas_call_away(
    trained: M002FullArchitecture, prices: pl.DataFrame
) -> None:
    frame = trained.predict(prices, asof="latest").to_pandas()
    assert list(frame.columns) == list(OUTPUT_COLUMNS)
    assert len(frame) == prices["ticker"].n_unique()


def test_columns_beyond_the_prices_are_recomputed_not_trusted(
    trained: M002FullArchitecture, prices: pl.DataFrame
) -> None:
    clean = trained.predict(prices)
    stale = prices.join(
        clean.select("ticker", "date", pl.lit(0.99).alias("state_prob_Peak"), "pred_rebound_prob"),
        on=["ticker", "date"],
    )
    assert trained.predict(stale).equals(clean)


def test_predicting_in_chunks_of_tickers_changes_nothing(
    trained: M002FullArchitecture, prices: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    from m002.pipeline import _architecture

    whole = trained.predict(prices)
    latest = trained.predict(prices, asof="latest")
    rows = prices.group_by("ticker").len()["len"]
    # about 3 tickers a chunk (20 tickers: 7 or more chunks)
    monkeypatch.setattr(_architecture, "PREDICT_CHUNK_ROWS", 3 * int(rows.min()))
    assert len(ticker_chunks(prices.sort("ticker", "date"), 3 * int(rows.min()))) >= 7
    assert trained.predict(prices).equals(whole)
    assert trained.predict(prices, asof="latest").equals(latest)
