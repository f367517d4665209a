"""Layer 3: the policy that turns predictions into an action and a signed size (spec 4)."""

from __future__ import annotations

from m002.policy._policy import (
    ACTION,
    EX_ANTE_VOL,
    POLICY_COLUMNS,
    POLICY_SCORE,
    POSITION_SIZE,
    Action,
    MultiplierScope,
    PolicyConfig,
    ScoreForm,
    ShortGate,
    apply_policy,
    required_columns,
    soft_policy_score,
    symmetric_policy_score,
)

__all__ = [
    "ACTION",
    "EX_ANTE_VOL",
    "POLICY_COLUMNS",
    "POLICY_SCORE",
    "POSITION_SIZE",
    "Action",
    "MultiplierScope",
    "PolicyConfig",
    "ScoreForm",
    "ShortGate",
    "apply_policy",
    "required_columns",
    "soft_policy_score",
    "symmetric_policy_score",
]
