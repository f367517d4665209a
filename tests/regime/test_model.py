from __future__ import annotations

from collections import Counter

import numpy as np
import polars as pl
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from m002.regime import (
    RegimeLSTM,
    RegimeSequenceDataset,
    balanced_batches,
    balanced_collate_fn,
    build_sequences,
)


def _batch(labels: list[int]) -> list[tuple[torch.Tensor, int]]:
    return [(torch.full((3, 2), float(i)), label) for i, label in enumerate(labels)]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=64))
def test_balanced_batch_class_counts_differ_by_at_most_one(labels: list[int]) -> None:
    x, y = balanced_collate_fn(_batch(labels), generator=torch.Generator().manual_seed(0))
    counts = Counter(y.tolist())
    assert set(counts) == set(labels)  # no class invented, none lost
    assert max(counts.values()) - min(counts.values()) <= 1
    assert max(counts.values()) == max(Counter(labels).values())
    # every original window is present at least once, and each x still matches its label
    assert {int(v) for v in x[:, 0, 0].tolist()} == set(range(len(labels)))
    for window, label in zip(x, y, strict=True):
        assert labels[int(window[0, 0])] == int(label)


def test_minority_windows_are_repeated_evenly() -> None:
    x, y = balanced_collate_fn(
        _batch([0] * 7 + [1] * 2), generator=torch.Generator().manual_seed(1)
    )
    assert Counter(y.tolist()) == {0: 7, 1: 7}
    repeats = Counter(int(v) for v, label in zip(x[:, 0, 0], y, strict=True) if label == 1)
    assert sorted(repeats.values()) == [3, 4]  # 7 = 2 * 3 + 1


def test_dataset_items_are_views_with_their_labels() -> None:
    frame = pl.DataFrame(
        {
            "ticker": ["A"] * 5,
            "date": pl.date_range(pl.date(2020, 1, 6), pl.date(2020, 1, 10), eager=True),
            "f": [0.0, 1, 2, 3, 4],
            "label": [0, 1, 2, 3, 4],
        }
    )
    dataset = RegimeSequenceDataset(build_sequences(frame, ["f"], seq_len=3, label_column="label"))
    assert len(dataset) == 3
    window, label = dataset[1]
    assert window.flatten().tolist() == [1.0, 2.0, 3.0]
    assert label == 3


def _pairs(windows: torch.Tensor, outcomes: torch.Tensor) -> Counter[tuple[object, ...]]:
    return Counter(
        (tuple(w.flatten().tolist()), int(o)) for w, o in zip(windows, outcomes, strict=True)
    )


@pytest.mark.parametrize("weights", [False, True])
def test_index_batches_are_the_collated_batches_of_the_same_draws(weights: bool) -> None:
    rng = np.random.default_rng(0)
    n = 40
    frame = pl.DataFrame(
        {
            "ticker": ["A"] * n,
            "date": pl.date_range(pl.date(2020, 1, 1), pl.date(2020, 2, 9), eager=True),
            "f": np.arange(n, dtype=float),
            "label": rng.choice([0, 0, 0, 1, 2], size=n),
        }
    )
    sequences = build_sequences(frame, ["f"], seq_len=3, label_column="label")
    batches = list(
        balanced_batches(
            sequences,
            8,
            shuffle=torch.Generator().manual_seed(3),
            balance=torch.Generator().manual_seed(4),
            weights=weights,
        )
    )
    dataset = RegimeSequenceDataset(sequences)
    permutation = torch.randperm(len(sequences), generator=torch.Generator().manual_seed(3))
    balance = torch.Generator().manual_seed(4)
    assert len(batches) == -(-len(sequences) // 8)
    seen: set[int] = set()
    for (x, y, weight), start in zip(batches, range(0, len(sequences), 8), strict=True):
        items = [dataset[int(i)] for i in permutation[start : start + 8]]
        expected_x, expected_y = balanced_collate_fn(items, generator=balance)
        if weights:  # each window once, weighted by its repeats in the collated batch
            assert weight is not None
            assert len({int(v) for v in x[:, -1, 0]}) == len(y)
            repeats = weight.to(torch.int64)
            assert torch.equal(repeats.to(weight.dtype), weight)
            x, y = x.repeat_interleave(repeats, 0), y.repeat_interleave(repeats)
            assert _pairs(x, y) == _pairs(expected_x, expected_y)
        else:  # every repeat a copy, in the collated order
            assert weight is None
            assert torch.equal(x, expected_x)
            assert torch.equal(y, expected_y)
        counts = Counter(y.tolist())
        assert len(set(counts.values())) == 1  # balanced
        seen.update(int(v) for v in x[:, -1, 0])
    assert seen == {int(e) for e in sequences.ends}  # every window in the epoch


def test_lstm_standardises_inside_and_outputs_logits() -> None:
    torch.manual_seed(0)
    model = RegimeLSTM(2, 5, hidden_size=8)
    model.set_scaler(np.array([10.0, 0.0]), np.array([2.0, 0.0]))  # std 0 -> 1
    assert model.feature_std.tolist() == [2.0, 1.0]
    out = model(torch.randn(4, 20, 2))
    assert out.shape == (4, 5)
    assert "feature_mean" in model.state_dict()
