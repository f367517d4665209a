"""The raw book: rank membership with and without hysteresis, one TopkDropout step, and the
strongest names kept under a position limit."""

from __future__ import annotations

import numpy as np
import pytest

from m002.portfolio._select import keep_strongest, rank_book, topk_book

Q = np.array([1.0, 0.75, 0.5, 0.25, 0.0])
ALL = np.ones(5, dtype=bool)


def test_rank_book_without_hysteresis_holds_everything_but_the_median() -> None:
    out = rank_book(Q, np.zeros(5), hysteresis=None, long_only=False)
    assert out.tolist() == [0.5, 0.25, 0.0, -0.25, -0.5]
    tilt = rank_book(np.array([1.0, 0.75, np.nan, 0.25, 0.0]), np.zeros(5), hysteresis=None,
                     long_only=True)  # fmt: skip
    assert tilt.tolist() == [1.0, 0.75, 0.0, 0.25, 0.0]
    upper = rank_book(Q, np.zeros(5), hysteresis=(0.5, 0.5), long_only=True)
    assert upper.tolist() == [0.5, 0.25, 0.0, 0.0, 0.0]
    assert not rank_book(np.full(3, np.nan), np.zeros(3), hysteresis=None, long_only=False).any()


@pytest.mark.parametrize(
    ("held", "expected"),
    [
        # flat names need the entry quantile: only the extremes enter
        ([0.0] * 5, [0.5, 0.0, 0.0, 0.0, -0.5]),
        # held names stay down to the exit quantile on their side
        ([0.0, 0.1, 0.0, -0.1, 0.0], [0.5, 0.25, 0.0, -0.25, -0.5]),
        # a name held on the wrong side does not count as held on this one
        ([0.0, -0.1, 0.0, 0.1, 0.0], [0.5, 0.0, 0.0, 0.0, -0.5]),
    ],
)
def test_rank_hysteresis_enters_high_and_leaves_low(
    held: list[float], expected: list[float]
) -> None:
    out = rank_book(Q, np.array(held), hysteresis=(1.0, 0.75), long_only=False)
    assert out.tolist() == expected


def test_rank_hysteresis_never_holds_the_median() -> None:
    # all held long; the lower half enters short at once (enter = exit = 1/2)
    out = rank_book(Q, np.full(5, 0.1), hysteresis=(0.5, 0.5), long_only=False)
    assert out.tolist() == [0.5, 0.25, 0.0, -0.25, -0.5]


def topk(score: list[float], held: list[float], **options: object) -> list[float]:
    n = len(score)
    kwargs: dict[str, object] = {
        "topk": 2,
        "n_drop": 1,
        "can_sell": np.ones(n, dtype=bool),
        "can_buy_long": np.ones(n, dtype=bool),
        "can_buy_short": np.ones(n, dtype=bool),
        "long_only": True,
    }
    kwargs.update(options)
    return topk_book(np.array(score), np.array(held), **kwargs).tolist()  # type: ignore[arg-type]


def test_topk_starts_with_the_best_names_and_refills_to_topk() -> None:
    assert topk([5.0, 4.0, 3.0, 2.0], [0.0] * 4) == [1.0, 1.0, 0.0, 0.0]
    # A held: candidates B, C; the lowest of the three is C, not held: B refills
    assert topk([5.0, 4.0, 3.0, 2.0], [0.5, 0.0, 0.0, 0.0]) == [1.0, 1.0, 0.0, 0.0]
    # D held: candidates A, B; D is the lowest of the three: sold, and both bought
    assert topk([5.0, 4.0, 3.0, 2.0], [0.0, 0.0, 0.0, 0.5]) == [1.0, 1.0, 0.0, 0.0]


def test_topk_sells_the_worst_held_only_for_a_better_candidate() -> None:
    # held C, D; the best candidate A beats D: D out, A in
    assert topk([5.0, 4.0, 3.0, 2.0], [0.0, 0.0, 0.5, 0.5]) == [1.0, 0.0, 1.0, 0.0]
    # n_drop 2: both replaced
    assert topk([5.0, 4.0, 3.0, 2.0], [0.0, 0.0, 0.5, 0.5], n_drop=2) == [1.0, 1.0, 0.0, 0.0]
    # held A, B beat every candidate: nothing changes
    assert topk([5.0, 4.0, 3.0, 2.0], [0.5, 0.5, 0.0, 0.0], n_drop=2) == [1.0, 1.0, 0.0, 0.0]


def test_topk_respects_what_may_not_be_sold_or_bought() -> None:
    score, held = [5.0, 4.0, 3.0, 2.0], [0.0, 0.0, 0.5, 0.5]
    # D may not be sold: it stays and nothing is bought in its place
    kept = topk(score, held, can_sell=np.array([True, True, True, False]))
    assert kept == [0.0, 0.0, 1.0, 1.0]
    # A may not be bought: B is the best candidate and replaces D
    cooling = topk(score, held, can_buy_long=np.array([False, True, True, True]))
    assert cooling == [0.0, 1.0, 1.0, 0.0]


def test_topk_ties_rank_by_ticker_order() -> None:
    assert topk([1.0, 1.0, 1.0], [0.0] * 3) == [1.0, 1.0, 0.0]
    both = topk([1.0, 1.0, 1.0, 1.0], [0.0] * 4, topk=1, long_only=False)
    assert both == [1.0, -1.0, 0.0, 0.0]


def test_topk_short_side_is_the_mirror_on_the_names_not_long() -> None:
    out = topk([5.0, 4.0, 3.0, 2.0, 1.0], [0.0] * 5, long_only=False)
    assert out == [1.0, 1.0, 0.0, -1.0, -1.0]
    # D, held short, is bought long: it leaves the short side, which refills with E
    out = topk([1.0, 2.0, 3.0, 5.0, 0.0], [0.0, 0.0, 0.0, -0.5, 0.0], topk=1, long_only=False)
    assert out == [0.0, 0.0, 0.0, 1.0, -1.0]


def test_keep_strongest_keeps_the_largest_strength_ties_by_order() -> None:
    book = np.array([0.5, 0.25, 0.0, -0.25, -0.5])
    strength = np.abs(book)
    assert keep_strongest(book, strength, 2).tolist() == [0.5, 0.0, 0.0, 0.0, -0.5]
    assert keep_strongest(book, strength, 3).tolist() == [0.5, 0.25, 0.0, 0.0, -0.5]
    assert keep_strongest(book, strength, 4) is book
