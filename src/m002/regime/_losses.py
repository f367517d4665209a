"""Layer 1's training losses by name: `LOSSES`, `FocalLoss`.

Each entry builds a ``torch.nn.Module`` that maps ``(logits, targets)`` to the mean loss
(``reduction="mean"``, what a gradient step minimises) or to one loss per window
(``reduction="none"``, what the curriculum ranks windows by).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import torch
from torch import nn
from torch.nn import functional

__all__ = ["LOSSES", "FocalLoss", "build_loss", "weighted_mean_loss"]

# (1 - p) is floored here so that its power's gradient stays finite where p rounds to 1
_MIN_MISS: Final = 1e-12


class FocalLoss(nn.Module):
    """Multi-class focal loss (Lin et al., 2017) on label-smoothed targets.

    ``loss = -sum_c q_c (1 - p_c)^gamma log p_c`` per window, ``p`` the softmax of the logits
    and ``q = (1 - eps) onehot(y) + eps / C`` the smoothed target. The factor
    ``(1 - p_c)^gamma`` shrinks the loss of what the network already gets right, so the
    gradient goes to the hard windows; ``gamma = 0`` is the cross-entropy with the same
    smoothing.

    Parameters
    ----------
    gamma : float
        Focusing exponent (>= 0).
    label_smoothing : float
        ``eps`` in [0, 1).
    reduction : {"mean", "none"}
        Mean over the batch, or one value per window.

    Examples
    --------
    >>> logits, y = torch.tensor([[2.0, 0.0]]), torch.tensor([0])
    >>> p = torch.softmax(logits, 1)[0, 0]
    >>> bool(torch.isclose(FocalLoss(gamma=2.0)(logits, y), -(1 - p) ** 2 * torch.log(p)))
    True
    """

    def __init__(
        self, *, gamma: float = 2.0, label_smoothing: float = 0.0, reduction: str = "mean"
    ) -> None:
        super().__init__()
        self.gamma = gamma
        self.label_smoothing = label_smoothing
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``(n, C)`` logits and ``(n,)`` int64 targets -> the loss."""
        log_p = functional.log_softmax(logits, dim=1)
        n_classes = logits.shape[1]
        eps = self.label_smoothing
        q = functional.one_hot(target, n_classes).to(log_p.dtype) * (1.0 - eps) + eps / n_classes
        miss = (-torch.expm1(log_p)).clamp(min=_MIN_MISS)
        per_window = -(q * miss.pow(self.gamma) * log_p).sum(dim=1)
        return per_window.mean() if self.reduction == "mean" else per_window


def _cross_entropy(*, label_smoothing: float, focal_gamma: float, reduction: str) -> nn.Module:
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing, reduction=reduction)


def _focal(*, label_smoothing: float, focal_gamma: float, reduction: str) -> nn.Module:
    return FocalLoss(gamma=focal_gamma, label_smoothing=label_smoothing, reduction=reduction)


LOSSES: Final[dict[str, Callable[..., nn.Module]]] = {
    "cross_entropy": _cross_entropy,
    "focal": _focal,
}
"""Layer 1's losses by the name `RegimeClassifier`'s ``loss`` takes; each builder takes
``label_smoothing``, ``focal_gamma`` (read by ``"focal"`` alone) and ``reduction``."""


def build_loss(
    name: str, *, label_smoothing: float, focal_gamma: float, reduction: str = "mean"
) -> nn.Module:
    """The loss ``name`` of `LOSSES` with these settings."""
    return LOSSES[name](
        label_smoothing=label_smoothing, focal_gamma=focal_gamma, reduction=reduction
    )


def weighted_mean_loss(
    loss: nn.Module, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """The mean of ``loss`` (built with ``reduction="none"``) over windows that count
    ``weight`` times each: the mean loss of the batch with each window repeated ``weight``
    times, at the cost of one forward and backward pass per distinct window."""
    per_window: torch.Tensor = loss(logits, target)
    return (per_window * weight).sum() / weight.sum()
