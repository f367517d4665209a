"""The tuner's sampler: a trial's conditional parameters are sampled for its own sizing only."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import optuna.samplers._tpe._truncnorm as truncnorm

from m002.tuning import DEFAULT_SPACE, space_from_dict
from m002.tuning._sampler import SizingTPESampler, vectorised_truncnorm
from m002.tuning._space import Param, distribution, suggest

ALWAYS = {p.name for p in DEFAULT_SPACE if p.when is None}


class _Recording(SizingTPESampler):
    """Keeps what each trial's relative sampling returned."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.relative: dict[int, dict[str, Any]] = {}

    def sample_relative(self, study: Any, trial: Any, search_space: Any) -> dict[str, Any]:
        params = super().sample_relative(study, trial, search_space)
        self.relative[trial.number] = params
        return params


def _objective(values: dict[str, Any]) -> float:
    # any smooth function of the drawn values, so that TPE has something to learn
    return sum(float(v) for v in values.values() if isinstance(v, int | float)) + (
        0.5 if values.get("sizing") == "rank" else 0.0
    )


def _run(
    space: tuple[Param, ...], sizing: str, trials: int, seed: int = 0
) -> tuple[_Recording, optuna.Study]:
    sampler = _Recording(space, sizing, seed=seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for _ in range(trials):
        trial = study.ask()
        study.tell(trial, _objective(suggest(trial, space, sizing)))
    return sampler, study


def test_a_trial_samples_the_group_of_its_sizing_and_no_other() -> None:
    sampler, study = _run(DEFAULT_SPACE, "rank", 40)
    study_trials = {t.number: t for t in study.trials}
    sampled = 0
    for number, params in sampler.relative.items():
        trial = study_trials[number]
        if not params:  # the random start-up trials
            continue
        sampled += 1
        sizing = trial.params["sizing"]
        group = {p.name for p in DEFAULT_SPACE if p.when is not None and sizing in p.when}
        assert set(params) == ALWAYS | group
        # every value the trial used came from the relative (multivariate) draw
        assert params == trial.params
    assert sampled == 40 - 10  # TPE's 10 random start-up trials (Optuna's default)


def test_the_same_seed_draws_the_same_trials() -> None:
    _, first = _run(DEFAULT_SPACE, "rank", 25, seed=7)
    _, second = _run(DEFAULT_SPACE, "rank", 25, seed=7)
    assert [t.params for t in first.trials] == [t.params for t in second.trials]


def test_a_search_over_one_sizing_samples_that_sizings_group() -> None:
    space, _ = space_from_dict({"sizing": {"choices": ["topk"]}})
    sampler, _ = _run(space, "rank", 20)
    late = [params for params in sampler.relative.values() if params]
    assert late
    for params in late:
        assert {"topk", "n_drop"} <= set(params)
        assert "enter_quantile" not in params


def test_the_sampler_sees_the_distributions_a_trial_draws_from() -> None:
    # a relative value is used only where its distribution is the one the trial suggests
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen: dict[str, object] = {}
    for _ in range(30):
        trial = study.ask()
        suggest(trial, DEFAULT_SPACE, "rank")
        seen.update(study.trials[-1].distributions)
        study.tell(trial, 0.0)
    assert seen == {p.name: distribution(p) for p in DEFAULT_SPACE}


def test_the_vectorised_truncnorm_is_optunas_within_its_block_only() -> None:
    x = np.concatenate([np.linspace(-45.0, 45.0, 4001), [-1e3, -20.0, 6.0, 0.0]])
    optunas_log_ndtr, optunas_erf = truncnorm._log_ndtr, truncnorm.erf
    expected, expected_erf = optunas_log_ndtr(x), optunas_erf(x[:1999])
    with vectorised_truncnorm():
        assert truncnorm._log_ndtr is not optunas_log_ndtr
        assert truncnorm.erf is not optunas_erf
        got, got_erf = truncnorm._log_ndtr(x), truncnorm.erf(x[:1999])
    assert truncnorm._log_ndtr is optunas_log_ndtr
    assert truncnorm.erf is optunas_erf
    # Optuna's loses digits as x grows (the log of a value near 1): 4e-8 just below x = 6
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-300)  # SciPy: 0 below 1e-300
    np.testing.assert_allclose(got[x < 0.0], expected[x < 0.0], rtol=1e-13, atol=0)
    # under 2,000 values Optuna's erf is math.erf one value at a time: SciPy's is the same
    np.testing.assert_allclose(got_erf, expected_erf, rtol=1e-15, atol=1e-300)


def test_the_internal_form_is_tpes_own_with_finished_trials_converted_once() -> None:
    sampler, study = _run(DEFAULT_SPACE, "rank", 30)
    running = study.ask()  # a running trial with part of its values: never kept
    sizing = next(p for p in DEFAULT_SPACE if p.name == "sizing")
    running.suggest_categorical("sizing", list(sizing.choices or ()))
    trials = study.get_trials(deepcopy=False)
    tpe = optuna.samplers.TPESampler(multivariate=True, seed=0)
    groups = [
        {n: d for n, d in sampler._space.items() if n in ALWAYS},
        {n: d for n, d in sampler._space.items() if n in ("topk", "n_drop")},
        {n: d for n, d in sampler._space.items() if n == "enter_quantile"},
    ]
    for _ in range(2):  # the second time from what the first kept
        for group in groups:
            ours = sampler._get_internal_repr(trials, group, study)
            theirs = tpe._get_internal_repr(trials, group, study)
            assert ours.keys() == theirs.keys()
            for name in group:
                np.testing.assert_array_equal(ours[name], theirs[name])
    assert running.number not in sampler._internal
    assert len(sampler._internal) == 30
