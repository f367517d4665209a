"""Cross-sectional normalisation of the head's features, per date, as polars expressions.

Each feature is rescaled within each date of the frame given, over that date's rows with a
finite value: a row's normalised value depends only on the rows of its own date, never on
other dates (so a training frame and a prediction frame normalise a date alike when they
hold the same rows of it). Null, NaN and +/-inf are missing: they take no part in a date's
statistics and stay null, unless ``fill`` is ``"zero"``.

``cs_rank`` (Qlib's ``CSRankNorm``)
    ``(pct - 0.5) * 3.46`` with ``pct = (rank - 1) / (n - 1)``: ``rank`` the average rank
    (ties share the mean of their ranks, 1 for the smallest) among the ``n`` finite values
    of the date. The smallest value maps to -1.73, the largest to +1.73, a tie to the mean
    of the places it spans. A date with a single finite value gives it ``pct = 0.5``, so 0.
    (Qlib uses pandas' ``rank(pct=True)``, ``rank / n``, which is not centred: the largest
    value gets ``pct = 1``, the smallest ``1 / n``.)
``cs_robust_zscore`` (Qlib's ``CSZScoreNorm(method="robust")``)
    ``(x - median) / (1.4826 * MAD)``, ``MAD`` the median of ``|x - median|`` over the
    date's finite values, clipped to [-3, 3] as Qlib's ``clip_outlier``. Where the MAD is 0
    (half or more of the date's values equal the median) every finite value of the date is
    0: no scale can be measured, and 0 is the neutral value (Qlib would divide by zero).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import polars as pl

from m002._polars import finite_or_null
from m002._schema import DATE

__all__ = ["CS_RANK_SCALE", "FillMissing", "Normalize", "cs_rank", "cs_robust_zscore", "normalised"]

CS_RANK_SCALE: Final = 3.46
"""Qlib's factor: a uniform variable on [-0.5, 0.5] times 3.46 has a standard deviation ~1."""
MAD_TO_SIGMA: Final = 1.4826
"""The MAD of a normal variable times 1.4826 is its standard deviation."""
ZSCORE_CLIP: Final = 3.0


class Normalize(StrEnum):
    """How `MultiTaskHead` rescales each feature within each date."""

    NONE = "none"
    """The features as they are."""
    CS_RANK = "cs_rank"
    """Average-rank percentile of the date, centred and scaled (`cs_rank`)."""
    CS_ROBUST_ZSCORE = "cs_robust_zscore"
    """Robust z-score of the date, clipped to [-3, 3] (`cs_robust_zscore`)."""


class FillMissing(StrEnum):
    """What `MultiTaskHead` does with a missing feature value (after normalising)."""

    NONE = "none"
    """Left missing: LightGBM learns which side of each split missing values go to."""
    ZERO = "zero"
    """0 (Qlib's ``Fillna``): null, NaN and +/-inf all become 0."""


def cs_rank(column: str, *, by: str = DATE) -> pl.Expr:
    """``(pct - 0.5) * 3.46`` of ``column`` within each ``by`` group, ``pct = (rank - 1) /
    (n - 1)`` over the group's finite values (0.5 for a single one); missing stays null."""
    value = finite_or_null(column)
    rank = value.rank("average").over(by)
    n = value.count().over(by)
    pct = pl.when(n > 1).then((rank - 1.0) / (n - 1.0)).otherwise(pl.lit(0.5))
    return pl.when(value.is_not_null()).then((pct - 0.5) * CS_RANK_SCALE).alias(column)


def cs_robust_zscore(column: str, *, by: str = DATE) -> pl.Expr:
    """``(x - median) / (1.4826 * MAD)`` of ``column`` within each ``by`` group, clipped to
    [-3, 3], 0 where the group's MAD is 0; missing stays null."""
    value = finite_or_null(column)
    deviation = value - value.median().over(by)
    mad = deviation.abs().median().over(by)
    z = pl.when(mad > 0).then(deviation / (MAD_TO_SIGMA * mad)).otherwise(pl.lit(0.0))
    return pl.when(value.is_not_null()).then(z.clip(-ZSCORE_CLIP, ZSCORE_CLIP)).alias(column)


def normalised(columns: list[str], normalize: Normalize, fill: FillMissing) -> list[pl.Expr]:
    """One expression per column: normalised per date by ``normalize``, then filled by
    ``fill``. With both ``"none"`` the columns as they are."""
    if normalize is Normalize.CS_RANK:
        exprs = [cs_rank(c) for c in columns]
    elif normalize is Normalize.CS_ROBUST_ZSCORE:
        exprs = [cs_robust_zscore(c) for c in columns]
    elif fill is FillMissing.ZERO:
        exprs = [finite_or_null(c).alias(c) for c in columns]
    else:
        return [pl.col(c) for c in columns]
    if fill is FillMissing.ZERO:
        return [e.fill_null(0.0) for e in exprs]
    return exprs
