"""The PyTorch side of layer 1: `SequenceNetwork` (the standardised input every sequence
model shares), `RegimeLSTM`, `RegimeSequenceDataset`, `balanced_collate_fn`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import ClassVar, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from m002.regime._sequences import SequenceSet, window_indices

__all__ = [
    "Batch",
    "RegimeLSTM",
    "RegimeSequenceDataset",
    "SequenceNetwork",
    "balanced_batches",
    "balanced_collate_fn",
    "balanced_order",
]

# a standardised feature beyond this many standard deviations carries no more information and
# would only destabilise an LSTM's gates or attention's scores (fat-tailed returns, 100x volume
# days)
_CLIP_Z = 8.0


class SequenceNetwork(nn.Module):
    """What every layer-1 network shares: it reads raw feature windows and standardises them
    itself, and ends in a linear ``head`` whose outputs are the logits.

    The standardisation (mean/std fitted on training rows) lives in the module as buffers, so it
    is saved and loaded with the weights. A subclass builds its layers after calling
    ``super().__init__(n_features)`` and reads ``self.standardise(x)`` in its ``forward``.
    Its constructor takes ``(n_features, n_classes, *, hidden_size, num_layers, dropout)``
    and the keyword parameters named in ``extra_params``.
    """

    extra_params: ClassVar[tuple[str, ...]] = ()
    feature_mean: torch.Tensor
    feature_std: torch.Tensor
    head: nn.Linear

    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_std", torch.ones(n_features))

    def set_scaler(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Store the training rows' feature mean and std (std 0 is treated as 1)."""
        safe_std = np.where(std > 0, std, 1.0)
        self.feature_mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.feature_std.copy_(torch.as_tensor(safe_std, dtype=torch.float32))

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        """Raw windows -> z-scores under the stored scaler, clipped to +-8."""
        return ((x - self.feature_mean) / self.feature_std).clamp(-_CLIP_Z, _CLIP_Z)


class RegimeLSTM(SequenceNetwork):
    """Standardise -> LSTM -> linear head on the last step's hidden state.

    Parameters
    ----------
    n_features, n_classes : int
    hidden_size : int
    num_layers : int
    dropout : float
        Between LSTM layers (when ``num_layers > 1``) and before the head.
    """

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        *,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.1,
    ) -> None:
        super().__init__(n_features)
        self.lstm = nn.LSTM(
            n_features,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, seq_len, n_features)`` raw windows -> ``(batch, n_classes)`` logits."""
        output, _ = self.lstm(self.standardise(x))
        return self.head(self.dropout(output[:, -1, :]))  # type: ignore[no-any-return]


class RegimeSequenceDataset(Dataset[tuple[torch.Tensor, int]]):
    """Windows of a `SequenceSet` as ``(window, label)`` pairs.

    Each window is a zero-copy view into the set's feature matrix.
    """

    def __init__(self, sequences: SequenceSet) -> None:
        self.sequences = sequences
        self._labels = sequences.require_labels()
        self._matrix = torch.from_numpy(sequences.features)

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        end = int(self.sequences.ends[i])
        return self._matrix[end - self.sequences.seq_len + 1 : end + 1], int(self._labels[i])


def balanced_order(labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Positions into one batch's ``labels`` that repeat the windows of minority classes
    until every class present has as many as the largest one (spec 2.3: every gradient step
    sees all classes in equal measure).

    A class with ``n`` windows and target ``m`` gets every window ``m // n`` times plus
    ``m % n`` distinct extra ones, drawn with ``generator``. Index arithmetic only: the
    windows themselves are gathered once, by the caller.
    """
    classes, counts = torch.unique(labels, return_counts=True)
    target = int(counts.max())
    picks: list[torch.Tensor] = []
    for cls, count in zip(classes.tolist(), counts.tolist(), strict=True):
        members = torch.nonzero(labels == cls).flatten()
        full, extra = divmod(target, count)
        picks.append(members.repeat(full))
        if extra:
            picks.append(members[torch.randperm(count, generator=generator)[:extra]])
    return torch.cat(picks)


def balanced_collate_fn(
    batch: Sequence[tuple[torch.Tensor, int]], *, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack a batch of ``(window, label)`` pairs, balanced by `balanced_order`.

    For a ``DataLoader`` over `RegimeSequenceDataset`; `RegimeClassifier` itself draws its
    batches as index arrays (`balanced_batches`), which gives the same batches without a
    Python call per window.

    Returns
    -------
    (x, y) : ``(n, seq_len, n_features)`` float32 and ``(n,)`` int64 tensors.
    """
    labels = torch.tensor([label for _, label in batch], dtype=torch.int64)
    order = balanced_order(labels, generator)
    x = torch.stack([batch[i][0] for i in order.tolist()])
    return x, labels[order]


class Batch(NamedTuple):
    """One training step's windows: raw ``x`` ``(n, seq_len, n_features)``, outcomes ``y``
    ``(n,)`` and ``weight``, how many times each window counts in the step's mean loss
    (``(n,)`` float32; None for once each)."""

    x: torch.Tensor
    y: torch.Tensor
    weight: torch.Tensor | None = None


def balanced_batches(
    sequences: SequenceSet,
    batch_size: int,
    *,
    shuffle: torch.Generator,
    balance: torch.Generator,
    weights: bool = False,
) -> Iterator[Batch]:
    """One epoch of shuffled, balanced batches over ``sequences``' windows.

    The windows are shuffled with ``shuffle``, cut into batches of ``batch_size`` and each
    batch is balanced by `balanced_order` (drawing with ``balance``); each batch's windows
    are then read from the feature matrix with one index array, every repeat a copy.

    With ``weights`` the same draws give each window of the batch once, with ``weight`` the
    number of times `balanced_order` took it: the weighted mean loss is the repeated batch's
    mean loss, and the network reads each window once instead of once per repeat (on the
    sample a third of a balanced batch's windows are repeats). The one difference is
    dropout's: one mask per window where each repeat had its own.
    """
    labels = torch.from_numpy(sequences.require_labels().astype(np.int64))
    matrix = torch.from_numpy(sequences.features)
    permutation = torch.randperm(len(sequences), generator=shuffle)
    for start in range(0, len(sequences), batch_size):
        chosen = permutation[start : start + batch_size]
        order = balanced_order(labels[chosen], balance)
        weight = None
        if weights:
            weight = torch.bincount(order, minlength=chosen.numel()).to(torch.float32)
        else:
            chosen = chosen[order]
        ends = sequences.ends[chosen.numpy()]
        x = matrix[torch.from_numpy(window_indices(ends, sequences.seq_len))]
        yield Batch(x, labels[chosen], weight)
