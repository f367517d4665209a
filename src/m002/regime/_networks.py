"""Layer 1's sequence models by name: `SEQUENCE_MODELS` and `RegimeTransformer`.

Every network reads raw ``(batch, seq_len, n_features)`` windows, standardises them with the
scaler buffers it carries (`SequenceNetwork`) and returns ``(batch, n_outputs)`` logits from a
linear ``head``; `RegimeClassifier` picks one with its ``model`` parameter.
"""

from __future__ import annotations

import math
from typing import ClassVar, Final

import torch
from torch import nn

from m002.regime._model import RegimeLSTM, SequenceNetwork

__all__ = ["SEQUENCE_MODELS", "RegimeTransformer", "build_network", "sinusoidal_positions"]


def sinusoidal_positions(length: int, width: int) -> torch.Tensor:
    """``(length, width)`` fixed positional encoding of Vaswani et al. (2017):
    ``sin(pos / 10000^(2i / width))`` in the even columns, the matching ``cos`` in the odd
    ones; position 0 is a window's oldest row."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    rate = torch.exp(torch.arange(0, width, 2, dtype=torch.float32) * (-math.log(1e4) / width))
    table = torch.zeros(length, width)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate[: width // 2])
    return table


class RegimeTransformer(SequenceNetwork):
    """Standardise -> linear embedding + sinusoidal positions -> transformer encoder -> linear
    head on the last position.

    The positions are the fixed sinusoidal table (`sinusoidal_positions`), not learned: no
    parameter depends on ``seq_len``, and the few windows of a ticker's history teach nothing
    about absolute positions that the table does not already give. Attention is not masked:
    every row of a window is at or before its last date, so the last position may read them
    all, and it is the one the head reads (as the LSTM reads its last step), the window's own
    date. Encoder layers normalise before attention and feed-forward (pre-LN, steadier on small
    data than post-LN) and a last LayerNorm closes the stack.

    Parameters
    ----------
    n_features, n_classes : int
    hidden_size : int
        ``d_model``: width of the embedding and of every encoder layer; divisible by
        ``n_heads``. The feed-forward block is 4 times as wide.
    num_layers : int
        Encoder layers.
    dropout : float
        Inside each encoder layer and before the head.
    n_heads : int
        Attention heads.
    """

    extra_params: ClassVar[tuple[str, ...]] = ("n_heads",)

    def __init__(
        self,
        n_features: int,
        n_classes: int,
        *,
        hidden_size: int = 32,
        num_layers: int = 1,
        dropout: float = 0.1,
        n_heads: int = 4,
    ) -> None:
        super().__init__(n_features)
        self.embed = nn.Linear(n_features, hidden_size)
        layer = nn.TransformerEncoderLayer(
            hidden_size,
            n_heads,
            dim_feedforward=4 * hidden_size,
            dropout=dropout,
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, num_layers, norm=nn.LayerNorm(hidden_size), enable_nested_tensor=False
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(batch, seq_len, n_features)`` raw windows -> ``(batch, n_classes)`` logits."""
        h = self.embed(self.standardise(x))
        h = h + sinusoidal_positions(x.shape[1], h.shape[2]).to(h.dtype)
        h = self.encoder(h)
        return self.head(self.dropout(h[:, -1, :]))  # type: ignore[no-any-return]


SEQUENCE_MODELS: Final[dict[str, type[SequenceNetwork]]] = {
    "lstm": RegimeLSTM,
    "transformer": RegimeTransformer,
}
"""Layer 1's networks by the name `RegimeClassifier`'s ``model`` takes."""


def build_network(
    name: str,
    n_features: int,
    n_outputs: int,
    *,
    hidden_size: int,
    num_layers: int,
    dropout: float,
    **extra: int,
) -> SequenceNetwork:
    """An untrained network ``name`` of `SEQUENCE_MODELS`, given those of the ``extra``
    parameters (such as ``n_heads``) that its class names in ``extra_params``; its weights
    come from torch's global generator, as the LSTM's always have."""
    kind = SEQUENCE_MODELS[name]
    own = {key: extra[key] for key in kind.extra_params}
    return kind(  # type: ignore[call-arg]
        n_features,
        n_outputs,
        hidden_size=hidden_size,
        num_layers=num_layers,
        dropout=dropout,
        **own,
    )
