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

`vectorised_truncnorm` is the other half of the sampler's cost: TPE's truncated normals take
``log Phi(x)`` and ``erf(x)`` element by element in Python (``np.frompyfunc`` over a scalar
function, and a list of ``math.erf`` calls for arrays under 2,000 values: millions of calls in a
tuning). While a study runs, those two functions of Optuna's are replaced by SciPy's vectorised
``log_ndtr`` and ``erf``. SciPy's ``erf`` is ``math.erf`` to the last bit or two; its
``log_ndtr`` agrees with Optuna's to 4e-8 relative (closer where they differ: Optuna's takes the
log of a value near 1 just below x = 6).

The sampler also keeps each finished trial's parameters in TPE's internal form: TPE converts
every trial's values again at every ask (hundreds of trials, a dozen parameters, twice a
trial), though a finished trial never changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt
import optuna
from optuna.distributions import BaseDistribution
from optuna.trial import FrozenTrial
from scipy.special import erf, log_ndtr

from m002.tuning._space import Param, distribution

__all__ = ["SizingTPESampler", "vectorised_truncnorm"]


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
        self._internal: dict[int, dict[str, float]] = {}
        """Each finished trial's values in TPE's internal form, by trial number."""

    def _get_internal_repr(
        self, trials: list[FrozenTrial], search_space: dict[str, BaseDistribution], study: Any
    ) -> dict[str, npt.NDArray[np.float64]]:
        """TPE's own conversion (`TPESampler._get_internal_repr`: the trials that have every
        parameter of ``search_space``, in order, their values in TPE's internal form), with
        each finished trial converted once."""
        if not search_space.keys() <= self._space.keys():
            return super()._get_internal_repr(trials, search_space, study)
        values: dict[str, list[float]] = {name: [] for name in search_space}
        for trial in trials:
            known = self._internal.get(trial.number)
            if known is None:
                params = self._get_params(trial, study)
                known = {n: d.to_internal_repr(params[n]) for n, d in self._space.items()
                         if n in params}  # fmt: skip
                if trial.state.is_finished():
                    self._internal[trial.number] = known
            if search_space.keys() <= known.keys():
                for name in search_space:
                    values[name].append(known[name])
        return {name: np.asarray(v) for name, v in values.items()}

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


def _erf(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.asarray(erf(np.asarray(x, dtype=np.float64)), dtype=np.float64)


_VECTORISED: dict[str, Any] = {"_log_ndtr": _log_ndtr, "erf": _erf}
"""Functions of Optuna's ``_truncnorm`` module and their vectorised replacements."""


@contextlib.contextmanager
def vectorised_truncnorm() -> Iterator[None]:
    """Within the block, Optuna's TPE computes ``log Phi`` and ``erf`` with SciPy's vectorised
    functions (the module docstring says why); outside it, with its own. A function Optuna
    does not have (another version) is left alone."""
    module = getattr(optuna.samplers._tpe, "_truncnorm", None)
    originals = {name: getattr(module, name) for name in _VECTORISED if hasattr(module, name)}
    for name in originals:
        setattr(module, name, _VECTORISED[name])
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(module, name, original)
