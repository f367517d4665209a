"""From layer 1's logits to probabilities that are frequencies.

The LSTM is trained on balanced batches (`balanced_collate_fn`): every outcome present in a
batch weighs the same, so the network learns the outcomes as if each were equally common. Its
softmax is then a posterior under that balanced prior, and smoothed, not a frequency: a rare
state's probability is several times its frequency. Three steps take it back:

1. label smoothing is undone: trained with smoothing ``eps`` over ``C`` outputs, the softmax
   estimates ``q = (1 - eps) p + eps / C``, so ``p_bal = (q - eps / C) / (1 - eps)``, floored
   at 1e-4 where the network overshoots (no outcome becomes impossible);
2. label-shift (prior) correction: ``p_bal`` is multiplied by ``pi_k / b_k``, the ratio of
   outcome k's frequency among the training windows (``pi_k``, every known row counted, "no
   state" included) to its weight in the balanced batches (``b_k = 1 / K`` over the K outcomes
   present in training), and renormalised. Under the usual label-shift assumption (the
   windows of one outcome look alike in both mixes) this is the posterior under the real
   prior;
3. a temperature ``T`` on ``log p_bal``, one scalar fitted by maximum likelihood on the
   out-of-time validation block, for what early stopping leaves too flat or too sharp. It
   rescales every outcome together and cannot, by itself, make each outcome's mean
   probability match its frequency, so those means stay a check, not a restatement of a fit.
   On the synthetic data the fitted ``T`` is close to 1: steps 1 and 2 do the work.

``p = softmax(log p_bal / T + log(pi / b))``. An outcome with no training window gets
probability 0.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from scipy.optimize import minimize_scalar

__all__ = ["OutcomeCalibration"]

# the temperature is searched in [1/20, 20]: far outside this the logits carry no information
_LOG_T_BOUNDS: Final = (-math.log(20.0), math.log(20.0))
# floor of an un-smoothed probability: smoothing keeps the network's own above eps / C, and
# what it gives below that is overshoot, not evidence that the outcome cannot happen
_MIN_BALANCED_PROB: Final = 1e-4


def _log_softmax(z: np.ndarray) -> np.ndarray:
    top = np.max(z, axis=1, keepdims=True)
    shifted = z - top
    return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class OutcomeCalibration:
    """``p = softmax(log p_bal / temperature + log_prior_shift)`` over the model's outcomes,
    ``p_bal`` the network's softmax with its label smoothing undone.

    Parameters
    ----------
    log_prior_shift : tuple of float
        ``log(pi_k / b_k)`` per outcome; ``-inf`` for an outcome absent from training.
    temperature : float
        Divides ``log p_bal`` before the shift (> 0).
    label_smoothing : float
        The smoothing the network was trained with (0: ``log p_bal`` is the log-softmax).
    train_frequency : tuple of float
        ``pi_k``: each outcome's share of the training windows.

    Examples
    --------
    >>> cal = OutcomeCalibration.from_counts([10, 30, 60])
    >>> [round(x, 3) for x in cal.train_frequency]
    [0.1, 0.3, 0.6]
    >>> cal.probabilities(np.zeros((1, 3))).round(3).tolist()  # balanced-uniform -> the prior
    [[0.1, 0.3, 0.6]]
    """

    log_prior_shift: tuple[float, ...]
    temperature: float = 1.0
    label_smoothing: float = 0.0
    train_frequency: tuple[float, ...] = ()

    @classmethod
    def identity(cls, n_outputs: int) -> OutcomeCalibration:
        """No correction: the plain softmax (models saved before the calibration existed)."""
        return cls(log_prior_shift=(0.0,) * n_outputs, train_frequency=(math.nan,) * n_outputs)

    @classmethod
    def from_counts(
        cls, counts: Sequence[int] | np.ndarray, *, label_smoothing: float = 0.0
    ) -> OutcomeCalibration:
        """The correction for a network trained with ``label_smoothing`` on batches that
        balance the outcomes present, whose training windows have these counts per outcome
        (temperature 1)."""
        counts = np.asarray(counts, dtype=np.float64)
        total = counts.sum()
        frequency = counts / total if total > 0 else np.zeros_like(counts)
        present = int(np.count_nonzero(counts))
        shift = [math.log(f * present) if f > 0 else -math.inf for f in frequency.tolist()]
        return cls(
            log_prior_shift=tuple(shift),
            label_smoothing=label_smoothing,
            train_frequency=tuple(frequency.tolist()),
        )

    def _balanced_log(self, logits: np.ndarray) -> np.ndarray:
        """``log p_bal``: the network's log-probabilities with the smoothing undone."""
        log_q = _log_softmax(np.asarray(logits, dtype=np.float64))
        if self.label_smoothing == 0.0:
            return log_q
        eps, n_outputs = self.label_smoothing, log_q.shape[1]
        p_bal = (np.exp(log_q) - eps / n_outputs) / (1.0 - eps)
        return np.log(np.maximum(p_bal, _MIN_BALANCED_PROB))  # type: ignore[no-any-return]

    def _scores(self, logits: np.ndarray) -> np.ndarray:
        shift = np.asarray(self.log_prior_shift, dtype=np.float64)
        return self._balanced_log(logits) / self.temperature + shift

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """``(n, n_outputs)`` float64 probabilities of the outcomes; rows sum to 1."""
        if logits.shape[0] == 0:
            return np.zeros(logits.shape, dtype=np.float64)
        return np.exp(_log_softmax(self._scores(logits)))  # type: ignore[no-any-return]

    def mean_log_loss(self, logits: np.ndarray, outcomes: np.ndarray) -> float:
        """Mean negative log-likelihood of ``outcomes`` under `probabilities`, over the rows
        whose outcome the calibration can give a probability (one seen in training)."""
        shift = np.asarray(self.log_prior_shift, dtype=np.float64)
        rows = np.isfinite(shift[outcomes])
        if not rows.any():
            return math.nan
        log_p = _log_softmax(self._scores(logits[rows]))
        return float(-log_p[np.arange(int(rows.sum())), outcomes[rows]].mean())

    def fit_temperature(self, logits: np.ndarray, outcomes: np.ndarray) -> OutcomeCalibration:
        """This calibration with the temperature that maximises the likelihood of
        ``outcomes`` (int outcome ids) given ``logits``; unchanged when there are no rows.

        A bounded scalar search (Brent), so the result is deterministic.
        """
        if len(outcomes) == 0:
            return self
        logits = np.asarray(logits, dtype=np.float64)

        def loss(log_t: float) -> float:
            trial = dataclasses.replace(self, temperature=math.exp(log_t))
            return trial.mean_log_loss(logits, outcomes)

        if not math.isfinite(loss(0.0)):
            return self
        found = minimize_scalar(
            loss, bounds=_LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-4}
        )
        return dataclasses.replace(self, temperature=float(math.exp(found.x)))

    def to_dict(self, outputs: Sequence[str]) -> dict[str, Any]:
        """JSON-ready form, keyed by output name (``None`` stands for ``-inf``)."""
        return {
            "method": "undo label smoothing, prior shift (balanced -> training), temperature",
            "temperature": self.temperature,
            "label_smoothing": self.label_smoothing,
            "log_prior_shift": {
                name: (s if math.isfinite(s) else None)
                for name, s in zip(outputs, self.log_prior_shift, strict=True)
            },
            "train_frequency": dict(zip(outputs, self.train_frequency, strict=True)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], outputs: Sequence[str]) -> OutcomeCalibration:
        """The calibration `to_dict` wrote for these outputs."""
        shift = data["log_prior_shift"]
        frequency = data.get("train_frequency") or {}
        return cls(
            log_prior_shift=tuple(
                -math.inf if shift[name] is None else float(shift[name]) for name in outputs
            ),
            temperature=float(data["temperature"]),
            label_smoothing=float(data.get("label_smoothing", 0.0)),
            train_frequency=tuple(
                math.nan if frequency.get(name) is None else float(frequency[name])
                for name in outputs
            ),
        )
