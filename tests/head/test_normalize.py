"""Cross-sectional normalisation of the head's features: exact values, per-date, in the head."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from m002.exceptions import SchemaError
from m002.head import HEAD_FEATURES, PRED_COLUMNS, FillMissing, MultiTaskHead, Normalize
from m002.head._normalize import cs_rank, cs_robust_zscore, normalised
from tests.head.conftest import SIGNAL, head_frame

FAST: dict[str, Any] = {
    "n_estimators": 30,
    "learning_rate": 0.1,
    "num_leaves": 7,
    "min_child_samples": 20,
    "n_jobs": 1,
}
FRAME = head_frame(n_dates=50, seed=2)
D1, D2 = date(2021, 3, 1), date(2021, 3, 2)
# x: a tie on D1 and a missing value on D2; y: a MAD of 0 on D1, NaN and inf on D2
TINY = pl.DataFrame(
    {
        "ticker": ["A", "B", "C", "D"] * 2,
        "date": [D1] * 4 + [D2] * 4,
        "x": [1.0, 2.0, 2.0, 5.0, 3.0, None, -1.0, 7.0],
        "y": [2.0, 2.0, 2.0, 9.0, 1.0, math.nan, math.inf, 4.0],
    }
)


def rank_value(rank: float, n: int) -> float:
    return ((rank - 1) / (n - 1) - 0.5) * 3.46


def zscore(x: float, median: float, mad: float) -> float:
    return min(3.0, max(-3.0, (x - median) / (1.4826 * mad)))


def column(frame: pl.DataFrame, expr: pl.Expr) -> list[float | None]:
    return frame.select(expr).to_series().to_list()


# --- the definitions, by hand -----------------------------------------------------------------


def test_cs_rank_by_hand() -> None:
    # D1 x: 1 < 2 = 2 < 5, average ranks 1, 2.5, 2.5, 4 of n = 4
    # D2 x: 3, missing, -1, 7: ranks 2, -, 1, 3 of n = 3 finite values
    assert column(TINY, cs_rank("x")) == [
        *(rank_value(r, 4) for r in (1, 2.5, 2.5, 4)),
        rank_value(2, 3),
        None,
        rank_value(1, 3),
        rank_value(3, 3),
    ]
    assert column(TINY, cs_rank("x"))[:4] == [-1.73, 0.0, 0.0, 1.73]
    # D2 y: NaN and inf are missing; 1 and 4 are ranks 1 and 2 of n = 2
    assert column(TINY, cs_rank("y"))[4:] == [-1.73, None, None, 1.73]


def test_cs_robust_zscore_by_hand() -> None:
    # D1 x: median 2, |x - 2| = 1, 0, 0, 3, MAD 0.5; (5 - 2) / 0.7413 = 4.05 is clipped to 3
    # D2 x: 3, -1, 7: median 3, |x - 3| = 0, 4, 4, MAD 4
    assert column(TINY, cs_robust_zscore("x")) == [
        zscore(1.0, 2.0, 0.5),
        0.0,
        0.0,
        3.0,
        0.0,
        None,
        zscore(-1.0, 3.0, 4.0),
        zscore(7.0, 3.0, 4.0),
    ]
    assert zscore(5.0, 2.0, 0.5) == 3.0 < (5.0 - 2.0) / (1.4826 * 0.5)
    # D1 y: 2, 2, 2, 9: MAD 0, so every value is 0; D2 y: 1 and 4, median 2.5, MAD 1.5
    assert column(TINY, cs_robust_zscore("y")) == [
        0.0,
        0.0,
        0.0,
        0.0,
        zscore(1.0, 2.5, 1.5),
        None,
        None,
        zscore(4.0, 2.5, 1.5),
    ]


def test_fill_zero_after_normalising_and_alone() -> None:
    ranked = TINY.select(normalised(["x", "y"], Normalize.CS_RANK, FillMissing.ZERO))
    assert ranked["x"].to_list()[4:] == [rank_value(2, 3), 0.0, rank_value(1, 3), 1.73]
    assert ranked["y"].to_list()[4:] == [-1.73, 0.0, 0.0, 1.73]
    filled = TINY.select(normalised(["x", "y"], Normalize.NONE, FillMissing.ZERO))
    assert filled["x"].to_list() == [1.0, 2.0, 2.0, 5.0, 3.0, 0.0, -1.0, 7.0]
    assert filled["y"].to_list() == [2.0, 2.0, 2.0, 9.0, 1.0, 0.0, 0.0, 4.0]
    kept = TINY.select(normalised(["x"], Normalize.NONE, FillMissing.NONE))
    assert_frame_equal(kept, TINY.select("x"))


# --- a date sees only its own rows ------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.floats(-1e6, 1e6), st.just(math.nan), st.just(math.inf)),
        min_size=8,
        max_size=8,
    )
)
def test_other_dates_rows_do_not_move_a_dates_values(other: list[float | None]) -> None:
    changed = TINY.vstack(
        pl.DataFrame(
            {
                "ticker": list("ABCDEFGH"),
                "date": [date(2021, 3, 3)] * 8,
                "x": other,
                "y": other[::-1],
            },
            schema=TINY.schema,
        )
    ).with_columns(
        # every row of D2 changed as well
        pl.when(pl.col("date") == D2).then(pl.col("x") * 100 - 7).otherwise("x").alias("x")
    )
    for method in (Normalize.CS_RANK, Normalize.CS_ROBUST_ZSCORE):
        exprs = normalised(["x", "y"], method, FillMissing.NONE)
        before = TINY.with_columns(exprs).filter(pl.col("date") == D1)
        after = changed.with_columns(exprs).filter(pl.col("date") == D1)
        assert_frame_equal(after, before)


# --- in the head ------------------------------------------------------------------------------


def test_none_is_todays_head_bit_for_bit() -> None:
    today = MultiTaskHead(**FAST, seed=7, subsample=0.7).fit(FRAME)
    explicit = MultiTaskHead(**FAST, seed=7, subsample=0.7, normalize="none", fill="none")
    explicit.fit(FRAME)
    for name in PRED_COLUMNS:
        assert explicit.boosters_[name].model_to_string() == today.boosters_[name].model_to_string()
    assert_frame_equal(explicit.predict(FRAME), today.predict(FRAME))
    lazy = FRAME.lazy()
    assert explicit._prepared(lazy, HEAD_FEATURES) is lazy


def test_cs_rank_head_ignores_a_monotone_change_of_each_date() -> None:
    day = pl.col("date").rank("dense").cast(pl.Float64)
    moved = FRAME.with_columns(pl.col(c) * 2.0 + 3.0 * day for c in HEAD_FEATURES)
    head = MultiTaskHead(**FAST, normalize="cs_rank").fit(FRAME)
    twin = MultiTaskHead(**FAST, normalize="cs_rank").fit(moved)
    assert_frame_equal(twin.predict(moved), head.predict(FRAME))
    assert_frame_equal(head.predict(moved), head.predict(FRAME))
    assert not MultiTaskHead(**FAST).fit(FRAME).predict(moved).equals(head.predict(FRAME))


@pytest.mark.parametrize("method", ["cs_rank", "cs_robust_zscore"])
def test_predict_normalises_each_date_on_its_own(method: str) -> None:
    head = MultiTaskHead(**FAST, normalize=method).fit(FRAME)
    every = head.predict(FRAME)
    last = FRAME["date"].max()
    alone = head.predict(FRAME.filter(pl.col("date") == last))
    assert_frame_equal(alone, every.filter(pl.col("date") == last))


def test_fill_zero_is_filling_by_hand() -> None:
    holes = FRAME.with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise(SIGNAL).alias(SIGNAL)
    )
    filled = holes.with_columns(pl.col(SIGNAL).fill_null(0.0))
    head = MultiTaskHead(**FAST, fill="zero").fit(holes)
    by_hand = MultiTaskHead(**FAST).fit(filled)
    assert_frame_equal(head.predict(holes), by_hand.predict(filled))


def test_infinite_values_are_counted_and_missing_when_normalising() -> None:
    bad = FRAME.with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(math.inf).otherwise(SIGNAL).alias(SIGNAL)
    )
    head = MultiTaskHead(**FAST, normalize="cs_robust_zscore").fit(bad)
    assert head.n_infinite_replaced_ == 3
    assert np.isfinite(head.predict(bad).drop("ticker", "date").to_numpy()).all()


def test_normalising_needs_the_date() -> None:
    with pytest.raises(SchemaError, match=r"\['date'\]"):
        MultiTaskHead(**FAST, normalize="cs_rank").fit(FRAME.drop("date"))


def test_a_head_saved_before_the_options_loads_without_them(tmp_path: Path) -> None:
    head = MultiTaskHead(**FAST).fit(FRAME)
    folder = head.save(tmp_path / "head")
    meta_file = folder / "head_meta.json"
    meta = json.loads(meta_file.read_text())
    for name in ("normalize", "fill"):
        del meta["params"][name]
    meta_file.write_text(json.dumps(meta))
    loaded = MultiTaskHead.load(folder)
    assert (loaded.normalize, loaded.fill) == ("none", "none")
    assert_frame_equal(loaded.predict(FRAME), head.predict(FRAME))
