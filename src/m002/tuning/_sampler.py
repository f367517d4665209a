"""The tuner's sampler: Optuna's multivariate TPE, drawing the sizing's parameters only.

The search is conditional (`m002.tuning._space`): the spec sizing's thresholds, the rank
book's quantiles and top-k's book size are drawn only in trials of their sizing. Optuna's TPE
with ``group=True`` learns each such group from the trials that drew it, but it samples every
group at every trial and the trial then reads only the groups of its sizing: with three
sizings, about half the sampler's work is thrown away. `SizingTPESampler` asks the same TPE
for the parameters every trial draws first (the sizing among them), then for the group of the
sizing drawn, through the sampler's public ``sample_relative`` with a narrower search space
(what Optuna's own ``PartialFixedSampler`` does). Each group is still learnt by the same TPE
from the same trials; only the random stream differs, as no draw is spent on a group the trial
discards.
"""

from __future__ import annotations

import warnings
from typing import Any

import optuna
from optuna.distributions import BaseDistribution

from m002.tuning._space import Param

__all__ = ["SizingTPESampler"]


class SizingTPESampler(optuna.samplers.TPESampler):
    """Multivariate, grouped TPE (with the constant liar, for batches of trials) that samples a
    trial's conditional parameters only for the sizing the trial drew.

    Parameters
    ----------
    space : tuple[Param, ...]
        The search; a parameter with ``when`` belongs to those sizings only.
    sizing : str
        The sizing of trials where the search does not draw one.
    seed : int
        Seed of the sampler.
    """

    def __init__(self, space: tuple[Param, ...], sizing: str, *, seed: int) -> None:
        with warnings.catch_warnings():  # `group` is marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            super().__init__(multivariate=True, group=True, seed=seed, constant_liar=True)
        self._when = {p.name: p.when for p in space if p.when is not None}
        # a search over one sizing is not sampled (Optuna skips single-valued parameters)
        only = [c for p in space if p.name == "sizing" for c in p.choices or ()]
        self._sizing = str(only[0]) if len(only) == 1 else sizing

    def sample_relative(
        self, study: Any, trial: Any, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        always = {k: d for k, d in search_space.items() if k not in self._when}
        params: dict[str, Any] = dict(super().sample_relative(study, trial, always))
        if not params:  # still the random start-up trials: nothing is sampled relatively
            return params
        sizing = params.get("sizing", self._sizing)
        conditional = {k: d for k, d in search_space.items() if sizing in self._when.get(k, ())}
        params.update(super().sample_relative(study, trial, conditional))
        return params
