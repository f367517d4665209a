"""How layer 1 draws its training windows each epoch, by name: `SAMPLERS`.

A sampler turns the training windows allowed in an epoch (all of them, or the curriculum's
easiest share) into that epoch's ``(x, y)`` batches of raw windows:

- ``"balanced_batch"`` (the default): every state window and a seeded draw of no-state windows
  as large as the average state (`epoch_windows`), shuffled, cut into batches and each batch
  balanced by repeating its minority outcomes (`balanced_batches`);
- ``"weighted_batch"``: the same draws, each repeat a weight on the window in the loss instead
  of another copy of it: the same loss with a third fewer windows through the network (one
  dropout mask per window instead of one per repeat);
- ``"none"``: every allowed window once, shuffled, no rebalancing: the batches carry the
  outcomes at their training frequencies;
- ``"smote"``, ``"adasyn"`` (imbalanced-learn, ``pip install 'm002[experiments]'``): the same
  epoch draw as ``"balanced_batch"``, then synthetic windows of every smaller outcome up to
  the largest one's count, interpolated between a window and one of its nearest neighbours of
  the same outcome (SMOTE), ADASYN giving more of them to the windows with more neighbours of
  other outcomes; then shuffled and cut into batches.

SMOTE and ADASYN work on each window flattened to ``seq_len x n_features`` numbers, after the
network's own standardisation (training rows' mean and std, clipped at +-8 like the network's
input), so that the nearest neighbours are not decided by whichever feature has the largest
units; the synthetic windows are mapped back to raw units, which the network reads. They see
the epoch's draw of training windows and nothing else: no validation window, no window
outside the curriculum's share. Their memory bound: the windows themselves are materialised
(a `SequenceSet` holds only views), at most ``K x n_max`` of them, ``K`` the outcomes in the
epoch's draw and ``n_max`` the largest one's count there, at ``seq_len x n_features x 4``
bytes each, plus, while one outcome is oversampled, imbalanced-learn's copy of the epoch's
draw and float64 temporaries of that outcome's synthetic windows; never a copy of all
training windows. The neighbour searches run with at most ``threads`` BLAS/OpenMP
threads, and each epoch's draw has its own seed, so that a fit is the same bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, ClassVar, Final, NamedTuple

import numpy as np
import torch

from m002._checks import import_extra
from m002.regime._model import Batch, balanced_batches
from m002.regime._outcomes import NO_STATE_ID
from m002.regime._sequences import SequenceSet, window_indices

__all__ = ["SAMPLERS", "Epoch", "WindowSampler", "epoch_windows", "require_imblearn"]

_CLIP_Z: Final = 8.0
_NEIGHBOURS: Final = 5


class Epoch(NamedTuple):
    """One epoch's batches and how many there are (for the progress bar)."""

    n_batches: int
    batches: Iterator[Batch]


def epoch_windows(labels: np.ndarray, generator: torch.Generator) -> np.ndarray:
    """Every state window and a draw of no-state windows as large as the average state
    (sorted positions into ``labels``)."""
    states = np.flatnonzero(labels != NO_STATE_ID)
    none = np.flatnonzero(labels == NO_STATE_ID)
    per_state = np.bincount(labels[states], minlength=NO_STATE_ID)
    present = per_state[per_state > 0]
    take = min(none.size, round(float(present.mean()))) if present.size else none.size
    drawn = none[torch.randperm(none.size, generator=generator)[:take].numpy()]
    return np.sort(np.concatenate([states, drawn]))


def _shuffled_batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, shuffle: torch.Generator
) -> Iterator[Batch]:
    permutation = torch.randperm(y.numel(), generator=shuffle)
    for start in range(0, y.numel(), batch_size):
        chosen = permutation[start : start + batch_size]
        yield Batch(x[chosen], y[chosen])


class WindowSampler:
    """Base of the samplers: the seeded generators and the ``(mean, std)`` scaler.

    Parameters
    ----------
    batch_size : int
    seed : int
        Seeds the shuffle (``seed``), the per-batch balancing (``seed + 1``), the no-state
        draw (``seed + 2``) and the synthetic windows (``seed + 3``), as separate generators.
    threads : int
        BLAS/OpenMP threads of a neighbour search.
    scaler : (np.ndarray, np.ndarray)
        The network's feature mean and std (std > 0).
    max_windows : int or None
        The most training windows an epoch's draw keeps: a larger draw is cut to a seeded
        random subset of this size (drawn with the no-state draw's generator), so that an
        epoch costs the same on 20 years of history as on 5. None keeps every window drawn.

    Attributes
    ----------
    balanced : bool
        Whether the batches weigh the outcomes present alike (the calibration then takes the
        network's output from that balanced prior back to the training frequencies), or
        carry them at their training frequencies.
    needs_imblearn : bool
        Whether the sampler imports imbalanced-learn (an optional dependency).
    """

    balanced: ClassVar[bool] = True
    needs_imblearn: ClassVar[bool] = False

    def __init__(
        self,
        *,
        batch_size: int,
        seed: int,
        threads: int,
        scaler: tuple[np.ndarray, np.ndarray],
        max_windows: int | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.max_windows = max_windows
        self.threads = threads
        self.scaler = scaler
        self.shuffle = torch.Generator().manual_seed(seed)
        self.balance = torch.Generator().manual_seed(seed + 1)
        self.draw = torch.Generator().manual_seed(seed + 2)
        self.synthesis = torch.Generator().manual_seed(seed + 3)

    def epoch(self, train: SequenceSet, allowed: np.ndarray) -> Epoch:
        """The batches of one epoch over the training windows at positions ``allowed``
        (sorted)."""
        raise NotImplementedError

    def capped(self, positions: np.ndarray) -> np.ndarray:
        """``positions`` (sorted), or a seeded draw of ``max_windows`` of them, sorted."""
        if self.max_windows is None or positions.size <= self.max_windows:
            return positions
        keep = torch.randperm(positions.size, generator=self.draw)[: self.max_windows].numpy()
        kept: np.ndarray = positions[np.sort(keep)]
        return kept


class BalancedBatchSampler(WindowSampler):
    """``"balanced_batch"``: `epoch_windows`, then `balanced_batches`."""

    weights: ClassVar[bool] = False

    def epoch(self, train: SequenceSet, allowed: np.ndarray) -> Epoch:
        labels = train.require_labels()
        chosen = train.subset(self.capped(allowed[epoch_windows(labels[allowed], self.draw)]))
        batches = balanced_batches(
            chosen,
            self.batch_size,
            shuffle=self.shuffle,
            balance=self.balance,
            weights=self.weights,
        )
        return Epoch(math.ceil(len(chosen) / self.batch_size), batches)


class WeightedBatchSampler(BalancedBatchSampler):
    """``"weighted_batch"``: `balanced_batches` with its repeats as weights."""

    weights = True


class ShuffledSampler(WindowSampler):
    """``"none"``: every allowed window once, shuffled, at the training frequencies."""

    balanced = False

    def epoch(self, train: SequenceSet, allowed: np.ndarray) -> Epoch:
        chosen = train.subset(self.capped(allowed))
        labels = torch.from_numpy(chosen.require_labels().astype(np.int64))
        matrix = torch.from_numpy(chosen.features)
        permutation = torch.randperm(len(chosen), generator=self.shuffle)

        def batches() -> Iterator[Batch]:
            for start in range(0, len(chosen), self.batch_size):
                picked = permutation[start : start + self.batch_size]
                ends = chosen.ends[picked.numpy()]
                x = matrix[torch.from_numpy(window_indices(ends, chosen.seq_len))]
                yield Batch(x, labels[picked])

        return Epoch(math.ceil(len(chosen) / self.batch_size), batches())


class _SyntheticSampler(WindowSampler):
    """The epoch draw of ``"balanced_batch"``, then imbalanced-learn's synthetic windows."""

    needs_imblearn = True
    name: ClassVar[str] = ""

    def epoch(self, train: SequenceSet, allowed: np.ndarray) -> Epoch:
        labels = train.require_labels()
        chosen = self.capped(allowed[epoch_windows(labels[allowed], self.draw)])
        raw = train.features[window_indices(train.ends[chosen], train.seq_len)]
        y = labels[chosen]
        new_x, new_y = self.synthesise(raw, y)
        x = torch.from_numpy(np.concatenate([raw, new_x]))
        y_all = torch.from_numpy(np.concatenate([y, new_y]).astype(np.int64))
        n_batches = math.ceil(y_all.numel() / self.batch_size)
        return Epoch(n_batches, _shuffled_batches(x, y_all, self.batch_size, self.shuffle))

    def synthesise(self, raw: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Synthetic raw windows (and their outcomes) that bring every outcome of ``y`` to
        the largest one's count, one outcome at a time (each with its own seed, in outcome
        order). An outcome with a single window has no neighbour to interpolate towards:
        that window is repeated instead."""
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

        present, counts = np.unique(y, return_counts=True)
        target = int(counts.max())
        shape = raw.shape[1:]
        mean, std = (np.asarray(a, dtype=np.float32) for a in self.scaler)
        z = np.clip((raw - mean) / std, -_CLIP_Z, _CLIP_Z).reshape(len(y), -1)
        parts_x = [np.empty((0, *shape), dtype=np.float32)]
        parts_y = [np.empty(0, dtype=np.int64)]
        for outcome, count in zip(present.tolist(), counts.tolist(), strict=True):
            if count == target:
                continue
            if count == 1:
                parts_x.append(np.repeat(raw[y == outcome], target - 1, axis=0))
                parts_y.append(np.full(target - 1, outcome, dtype=np.int64))
                continue
            seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self.synthesis))
            neighbours = min(_NEIGHBOURS, count - 1)
            with threadpool_limits(limits=self.threads):
                new_z = self._grow(z, y, outcome, target, neighbours, seed)
            parts_x.append(new_z.reshape(-1, *shape).astype(np.float32) * std + mean)
            parts_y.append(np.full(len(new_z), outcome, dtype=np.int64))
        return np.concatenate(parts_x), np.concatenate(parts_y)

    def _grow(
        self, z: np.ndarray, y: np.ndarray, outcome: int, target: int, neighbours: int, seed: int
    ) -> np.ndarray:
        """The synthetic standardised windows that bring ``outcome`` to ``target``."""
        raise NotImplementedError


def _synthetic_rows(sampler: Any, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """imbalanced-learn returns the given windows first, then the synthetic ones."""
    x_out, _ = sampler.fit_resample(z, y)
    return np.asarray(x_out)[len(y) :]


class SmoteSampler(_SyntheticSampler):
    """``"smote"``: imbalanced-learn's SMOTE on the epoch's draw."""

    name = "smote"

    def _grow(
        self, z: np.ndarray, y: np.ndarray, outcome: int, target: int, neighbours: int, seed: int
    ) -> np.ndarray:
        smote = require_imblearn(self.name).SMOTE(
            sampling_strategy={outcome: target}, k_neighbors=neighbours, random_state=seed
        )
        return _synthetic_rows(smote, z, y)


class AdasynSampler(_SyntheticSampler):
    """``"adasyn"``: imbalanced-learn's ADASYN on the epoch's draw.

    ADASYN spreads an outcome's deficit over its windows in proportion to their neighbours
    of other outcomes and rounds each share, so an outcome ends near the largest one's count,
    not on it; a deficit of a few windows spread thin may round to none (the outcome is then
    left as it is). An outcome none of whose windows has a neighbour of another outcome
    gives ADASYN nothing to weigh by: it gets SMOTE's uniform interpolation instead.
    """

    name = "adasyn"

    def _grow(
        self, z: np.ndarray, y: np.ndarray, outcome: int, target: int, neighbours: int, seed: int
    ) -> np.ndarray:
        over_sampling = require_imblearn(self.name)
        adasyn = over_sampling.ADASYN(
            sampling_strategy={outcome: target}, n_neighbors=neighbours, random_state=seed
        )
        try:
            return _synthetic_rows(adasyn, z, y)
        except ValueError as exc:
            if "No samples will be generated" not in str(exc):
                raise
            return np.empty((0, z.shape[1]), dtype=z.dtype)
        except RuntimeError:  # no window of the outcome has a neighbour of another one
            smote = over_sampling.SMOTE(
                sampling_strategy={outcome: target}, k_neighbors=neighbours, random_state=seed
            )
            return _synthetic_rows(smote, z, y)


SAMPLERS: Final[dict[str, type[WindowSampler]]] = {
    "balanced_batch": BalancedBatchSampler,
    "weighted_batch": WeightedBatchSampler,
    "none": ShuffledSampler,
    "smote": SmoteSampler,
    "adasyn": AdasynSampler,
}
"""Layer 1's window samplers by the name `RegimeClassifier`'s ``sampling`` takes."""


def require_imblearn(sampling: str) -> Any:
    """imbalanced-learn's ``over_sampling`` module, or a `ConfigError` naming the extra that
    installs it (``sampling`` is the name that needs it)."""
    return import_extra("imblearn.over_sampling", needed_by=f"`sampling={sampling!r}`")
