from __future__ import annotations

import polars as pl
import pytest

from m002._schema import CANONICAL_COLUMNS, MAX_GAP_DAYS
from m002.exceptions import ConfigError, SchemaError
from m002.features import (
    FEATURE_SETS,
    Feature,
    add_features,
    add_m002_features,
    apply_features,
    feature_names,
    feature_set,
    longest_warmup,
)
from m002.features._engine import ticker_chunks

SETS = sorted(FEATURE_SETS)


@pytest.mark.parametrize("set_name", SETS)
def test_fast_engine_equals_per_ticker_reference(ohlcv: pl.DataFrame, set_name: str) -> None:
    fast = add_features(ohlcv, set_name).collect()
    reference = add_features(ohlcv, set_name, engine="over").collect()
    assert fast.equals(reference)


@pytest.mark.parametrize("set_name", SETS)
def test_a_ticker_gets_the_same_bits_alone_or_with_others(
    ohlcv: pl.DataFrame, set_name: str
) -> None:
    together = add_features(ohlcv, set_name).collect()
    for (ticker,), alone_input in ohlcv.group_by("ticker"):
        alone = add_features(alone_input, set_name).collect()
        assert together.filter(pl.col("ticker") == ticker).equals(alone), ticker


@pytest.mark.parametrize("set_name", ["m002", "alpha158"])
def test_each_feature_is_null_exactly_on_its_warmup(ohlcv: pl.DataFrame, set_name: str) -> None:
    frame = (
        add_features(ohlcv, set_name)
        .with_columns(row=pl.int_range(pl.len()).over("ticker"))
        .collect()
    )
    for feature in FEATURE_SETS[set_name]:
        if feature.name.startswith("_"):
            continue
        values = frame.select("row", feature.name)
        warm = values.filter(pl.col("row") < feature.warmup)[feature.name]
        after = values.filter(pl.col("row") >= feature.warmup)[feature.name]
        assert warm.null_count() == warm.len(), feature.name
        assert after.null_count() == 0, feature.name
        assert after.cast(pl.Float64).is_finite().all(), feature.name


def test_values_after_warmup_are_finite(ohlcv: pl.DataFrame) -> None:
    frame = add_features(ohlcv, "m002", warmup="drop").collect()
    floats = [c for c in feature_names("m002") if frame.schema[c] == pl.Float64]
    bad = frame.select(pl.col(floats).is_finite().not_().sum()).row(0, named=True)
    assert all(count == 0 for count in bad.values()), bad


def test_sets_are_nested_and_m002_has_the_spec_names() -> None:
    v1, v2, v3, m002 = (set(feature_names(s)) for s in ("v1", "v2", "v3", "m002"))
    assert v1 < v2 < v3 < m002
    spec_names = {
        "curv_2", "price_accel", "ema_spread_rel", "atr_rel", "event_local_vol_spike",
        "event_rebound_candidate", "event_breakdown_risk", "event_volume_regain", "I_bd_early",
        "I_bd_late", "I_vr_and_vs", "event_volume_regain_freq20", "days_since_volume_regain",
        "rsi_smooth", "atr_smooth",
    }  # fmt: skip
    assert spec_names <= m002


def test_warmup_drop_and_flag(ohlcv: pl.DataFrame) -> None:
    n_warm = longest_warmup("m002")
    tickers = ohlcv["ticker"].n_unique()
    kept = add_features(ohlcv, "m002").collect()
    flagged = add_features(ohlcv, "m002", warmup="flag").collect()
    dropped = add_features(ohlcv, "m002", warmup="drop").collect()
    assert flagged["is_warmup"].sum() == n_warm * tickers
    assert dropped.height == kept.height - n_warm * tickers
    assert dropped.equals(flagged.filter(~pl.col("is_warmup")).drop("is_warmup"))


def test_unsorted_input_is_sorted_first(ohlcv: pl.DataFrame) -> None:
    shuffled = ohlcv.sample(fraction=1.0, shuffle=True, seed=3)
    assert add_features(shuffled, "v2").collect().equals(add_features(ohlcv, "v2").collect())


def test_missing_canonical_column_names_it(ohlcv: pl.DataFrame) -> None:
    with pytest.raises(SchemaError, match=r"\['volume'\]"):
        add_features(ohlcv.drop("volume"), "v1")


def test_unknown_set_and_engine_are_clear_errors(ohlcv: pl.DataFrame) -> None:
    with pytest.raises(ConfigError, match="unknown feature set `feature_set='v9'`"):
        add_features(ohlcv, "v9")
    with pytest.raises(ConfigError, match="`engine` must be"):
        add_features(ohlcv, "v1", engine="gpu")  # type: ignore[arg-type]


def test_feature_reading_an_unknown_column_is_rejected(ohlcv: pl.DataFrame) -> None:
    bad = Feature("x", pl.col("not_there") * 2, warmup=0)
    with pytest.raises(ConfigError, match="`x` reads \\['not_there'\\]"):
        apply_features(ohlcv.lazy(), [bad])


# --- long gaps: a ticker's history breaks, its features start again ----------------------------

GAP_TICKER = "T01"
GAP_AT = 150  # first row after the gap, in the gap ticker's rows


def with_gap(ohlcv: pl.DataFrame, *, days: int, ticker: str = GAP_TICKER) -> pl.DataFrame:
    """``ohlcv`` with the rows of ``ticker`` from GAP_AT on moved ``days`` later (on top of
    the usual step to the next row)."""
    row = pl.int_range(pl.len()).over("ticker")
    later = (pl.col("ticker") == ticker) & (row >= GAP_AT)
    moved = pl.when(later).then(pl.col("date") + pl.duration(days=days)).otherwise(pl.col("date"))
    return ohlcv.sort("ticker", "date").with_columns(moved.alias("date"))


@pytest.fixture(scope="module")
def gapped(ohlcv: pl.DataFrame) -> pl.DataFrame:
    """A ten-year gap (522 weeks) in T01; in T02 a gap at the limit and one just over."""
    out = with_gap(ohlcv, days=522 * 7)
    t02 = pl.col("ticker") == "T02"
    row = pl.int_range(pl.len()).over("ticker")
    shift = pl.when(t02 & (row >= 80)).then(pl.duration(days=9)).otherwise(pl.duration(days=0))
    out = out.with_columns(pl.col("date") + shift)  # T02: a step of 10 or 12 days
    shift = pl.when(t02 & (row >= 150)).then(pl.duration(days=20)).otherwise(pl.duration(days=0))
    return out.with_columns(pl.col("date") + shift)  # T02: a step of 21 or 23 days


def segments(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with each ticker's stretches between gaps of > 10 days as tickers of their
    own, named ``<ticker>#<n>``."""
    gap = (pl.col("date").diff().dt.total_days() > MAX_GAP_DAYS).fill_null(False)
    n = gap.cum_sum().over("ticker")
    return frame.sort("ticker", "date").with_columns(
        pl.format("{}#{}", pl.col("ticker"), n).alias("ticker")
    )


def test_gapped_fixture_has_the_gaps_it_says(gapped: pl.DataFrame) -> None:
    parts = segments(gapped)["ticker"].unique().sort().to_list()
    assert [p for p in parts if not p.endswith("#0")] == ["T01#1", "T02#1"]
    steps = gapped.filter(pl.col("ticker") == "T02").sort("date")["date"].diff().dt.total_days()
    assert sorted(steps.filter(steps > 3).to_list()) in ([10, 21], [10, 23], [12, 21], [12, 23])


@pytest.mark.parametrize("set_name", SETS)
def test_after_a_long_gap_a_ticker_gets_the_features_of_a_new_ticker(
    gapped: pl.DataFrame, set_name: str
) -> None:
    together = add_features(gapped, set_name).collect()
    alone = add_features(segments(gapped), set_name).collect()
    # bit for bit: each stretch between gaps as if it were a ticker of its own
    assert together.equals(alone.with_columns(pl.col("ticker").str.replace(r"#\d+$", "")))


def test_a_ten_year_gap_restarts_every_warm_up(gapped: pl.DataFrame) -> None:
    frame = add_features(gapped, "m002").filter(pl.col("ticker") == GAP_TICKER).collect()
    after = frame.slice(GAP_AT)
    alone = add_features(after.select(CANONICAL_COLUMNS), "m002").collect()
    assert after.equals(alone)
    for feature in FEATURE_SETS["m002"]:
        if feature.name.startswith("_"):
            continue
        column = after[feature.name]
        assert column.head(feature.warmup).null_count() == feature.warmup, feature.name
        assert column.slice(feature.warmup).null_count() == 0, feature.name
    # without the break the warm-up would be long over, and the values would differ
    unbroken = add_features(gapped, "m002", max_gap_days=10_000).collect()
    unbroken = unbroken.filter(pl.col("ticker") == GAP_TICKER).slice(GAP_AT)
    assert unbroken["rsi_14"].head(30).null_count() == 0
    assert not unbroken.equals(after)


@pytest.mark.parametrize("set_name", SETS)
def test_fast_engine_equals_the_reference_across_gaps(gapped: pl.DataFrame, set_name: str) -> None:
    fast = add_features(gapped, set_name).collect()
    reference = add_features(gapped, set_name, engine="over").collect()
    assert fast.equals(reference)


def test_warmup_drop_and_flag_count_from_the_gap(gapped: pl.DataFrame) -> None:
    n_warm = longest_warmup("m002")
    n_parts = segments(gapped)["ticker"].n_unique()
    flagged = add_features(gapped, "m002", warmup="flag").collect()
    dropped = add_features(gapped, "m002", warmup="drop").collect()
    assert flagged["is_warmup"].sum() == n_warm * n_parts
    assert dropped.equals(flagged.filter(~pl.col("is_warmup")).drop("is_warmup"))
    gap_rows = flagged.filter(pl.col("ticker") == GAP_TICKER)["is_warmup"]
    assert gap_rows.slice(GAP_AT, n_warm).all()
    assert not gap_rows.slice(GAP_AT + n_warm).any()


def test_max_gap_days_is_checked_and_moves_the_break(gapped: pl.DataFrame) -> None:
    t02 = gapped.filter(pl.col("ticker") == "T02")
    default = add_m002_features(t02, warmup="flag").collect()
    wider = add_m002_features(t02, warmup="flag", max_gap_days=40).collect()
    narrower = add_m002_features(t02, warmup="flag", max_gap_days=9).collect()
    n_warm = longest_warmup("m002")
    assert (wider["is_warmup"].sum(), default["is_warmup"].sum()) == (n_warm, 2 * n_warm)
    assert narrower["is_warmup"].sum() == 3 * n_warm
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="`max_gap_days` must be"):
            add_features(t02, "v1", max_gap_days=bad)  # type: ignore[arg-type]


# --- chunks of tickers --------------------------------------------------------------------------


def test_ticker_chunks_cut_only_where_a_ticker_starts() -> None:
    frame = pl.DataFrame({"ticker": list("AAABBBBCD"), "x": range(9)})
    chunks = ticker_chunks(frame, 3)
    assert [chunk["ticker"].to_list() for chunk in chunks] == [
        list("AAA"),
        list("BBBB"),
        list("CD"),
    ]
    assert ticker_chunks(frame, 9) == [frame]
    one_ticker = frame.with_columns(pl.lit("A").alias("ticker"))
    assert [chunk.height for chunk in ticker_chunks(one_ticker, 2)] == [9]


@pytest.mark.parametrize("set_name", ["m002", "alpha158"])
def test_small_chunks_give_the_values_of_one_pass(gapped: pl.DataFrame, set_name: str) -> None:
    """Slices of one or two tickers (one cut right after the gapped ticker) give the bits of
    the whole frame at once, in its row order."""
    frame = gapped.sort("ticker", "date").lazy()
    whole = apply_features(frame, feature_set(set_name), chunk_rows=10**9).collect()
    rows_per_ticker = gapped.group_by("ticker").len()["len"].min()
    assert rows_per_ticker is not None
    pieces = apply_features(frame, feature_set(set_name), chunk_rows=rows_per_ticker).collect()
    assert pieces.equals(whole)
    assert len(ticker_chunks(gapped.sort("ticker", "date"), rows_per_ticker)) > 2
