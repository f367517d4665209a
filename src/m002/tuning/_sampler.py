"""The tuner's sampler: Optuna's multivariate TPE over the search's own groups of parameters.

The search is conditional (`m002.tuning._space`): the spec sizing's thresholds, the rank
book's quantiles and top-k's book size are drawn only in trials of their sizing. Optuna's TPE
handles such a space with ``group=True``: at every trial it works the groups out again from
every trial so far, samples every group, and the trial then reads the groups of its sizing
only, so that about half the sampler's work is thrown away. The groups are known from the
search's table, so `SizingTPESampler` gives them to the same multivariate TPE itself, through
its public ``infer_relative_search_space`` and ``sample_relative``: first the parameters every
trial draws (the sizing among them), then the group of the sizing drawn. Each group is learnt,
as with ``group=True``, from the trials that drew all of its parameters; only the random
stream differs, as no draw is spent on a group the trial discards.

`vectorised_log_ndtr` is the other half of the sampler's cost: TPE's truncated normals take
``log Phi(x)`` element by element in Python (``np.frompyfunc`` over a scalar function, millions
of calls in a tuning). While a study runs, that one function of Optuna's is replaced by
SciPy's vectorised ``log_ndtr``, which agrees with it to 4e-8 relative (closer where they
differ: Optuna's takes the log of a value near 1 just below x = 6).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import optuna
from optuna.distributions import BaseDistribution
from scipy.special import log_ndtr

from m002.tuning._space import Param, distribution

__all__ = ["SizingTPESampler", "vectorised_log_ndtr"]


class SizingTPESampler(optuna.samplers.TPESampler):
    """Multivariate TPE (with the constant liar, for batches of trials) that samples the
    parameters every trial draws, then those of the sizing the trial drew.

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
        super().__init__(multivariate=True, seed=seed, constant_liar=True)
        # a parameter with one possible value is not sampled (Optuna gives it its value)
        self._space = {p.name: d for p in space if not (d := distribution(p)).single()}
        self._when = {p.name: p.when for p in space if p.when is not None}
        only = [c for p in space if p.name == "sizing" for c in p.choices or ()]
        self._sizing = str(only[0]) if len(only) == 1 else sizing

    def infer_relative_search_space(self, study: Any, trial: Any) -> dict[str, BaseDistribution]:
        return dict(self._space)

    def sample_relative(
        self, study: Any, trial: Any, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        always = {k: d for k, d in search_space.items() if k not in self._when}
        params: dict[str, Any] = dict(super().sample_relative(study, trial, always))
        if not params:  # still the random start-up trials: nothing is sampled relatively
            return params
        sizing = params.get("sizing", self._sizing)
        group = {k: d for k, d in search_space.items() if sizing in self._when.get(k, ())}
        params.update(super().sample_relative(study, trial, group))
        return params


def _log_ndtr(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(log_ndtr(np.asarray(x, dtype=np.float64)), dtype=np.float64)


@contextlib.contextmanager
def vectorised_log_ndtr() -> Iterator[None]:
    """Within the block, Optuna's TPE computes ``log Phi`` with SciPy's vectorised
    ``log_ndtr`` (the module docstring says why); outside it, with its own. Where Optuna has
    no such function (another version), nothing changes."""
    module = getattr(optuna.samplers._tpe, "_truncnorm", None)
    original = getattr(module, "_log_ndtr", None)
    if original is None:
        yield
        return
    module._log_ndtr = _log_ndtr  # type: ignore[union-attr]
    try:
        yield
    finally:
        module._log_ndtr = original  # type: ignore[union-attr]
