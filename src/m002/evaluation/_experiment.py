"""`run_experiment`: several configurations walked forward on the same data, folds and costs,
side by side in one table (the experiments of the spec's section 6: samplers, losses,
labellers, models, heads).

Each arm is a whole `run_walkforward`, written to ``runs/<name>`` inside the experiment's
folder, and every arm reads and writes one stage cache: a stage two arms share (the
features; layer 1's models where ``[labels]``, ``[regime]`` and ``[crossfit]`` agree) is
computed once. The arms must agree on ``[walkforward]`` and ``[backtest]``: the same folds
and the same costs are what make their rows comparable, so an arm that differs there is
refused before anything runs.

Per arm the table gives what each layer is judged by, all out of sample: layer 1's macro F1
over every row with a known outcome ("no state" an outcome of its own) and over the rows
labelled with a state, with its log loss; the head's average precision beside the rebound
base rate and the rank IC of its expected return; the ``m002`` strategy's backtest net of
the run's costs; and the arm's wall time with the layer-1 models it fitted and read back.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from m002 import __version__
from m002._executors import ExecutorConfig
from m002._io import atomic_dir, check_replaceable, write_json
from m002.evaluation._run import RunConfig
from m002.evaluation._walkforward import run_walkforward
from m002.exceptions import ConfigError
from m002.pipeline._architecture import Source

__all__ = [
    "EXPERIMENT_FILE",
    "EXPERIMENT_STRATEGY",
    "Arm",
    "arm_row",
    "config_changes",
    "describe_change",
    "run_experiment",
]

EXPERIMENT_FILE: Final = "experiment.json"
"""The comparison table of an experiment folder (beside ``runs/``, one run folder per arm)."""

EXPERIMENT_STRATEGY: Final = "m002"
"""The strategy row of each arm's backtest that the comparison shows: the configured book."""

_REFERENCE_STRATEGY: Final = "buy_and_hold"
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SHARED_SECTIONS: Final = ("walkforward", "backtest")


@dataclass(frozen=True)
class Arm:
    """One configuration of an experiment: a name (a folder name: letters, digits, ``_``,
    ``.``, ``-``) and its run config."""

    name: str
    config: RunConfig


def _check_arms(arms: Sequence[Arm]) -> None:
    if not arms:
        msg = "an experiment needs at least one configuration"
        raise ConfigError(msg)
    seen: set[str] = set()
    for arm in arms:
        if not _NAME.fullmatch(arm.name):
            msg = (
                f"arm name {arm.name!r} is not a folder name: use letters, digits, '_', '.' "
                "and '-', starting with a letter or digit"
            )
            raise ConfigError(msg)
        if arm.name in seen:
            msg = f"two configurations are named {arm.name!r}: give each arm its own name"
            raise ConfigError(msg)
        seen.add(arm.name)
    first = arms[0]
    for arm in arms[1:]:
        for section in _SHARED_SECTIONS:
            mine = dataclasses.asdict(getattr(arm.config, section))
            theirs = dataclasses.asdict(getattr(first.config, section))
            if mine != theirs:
                keys = sorted(k for k in mine if mine[k] != theirs[k])
                msg = (
                    f"arm {arm.name!r} differs from {first.name!r} in [{section}] "
                    f"({', '.join(keys)}): an experiment compares configurations on the same "
                    "folds and costs; set those in every file alike (or leave them out)"
                )
                raise ConfigError(msg)


def config_changes(config: RunConfig, reference: RunConfig) -> dict[str, Any]:
    """The keys where ``config`` differs from ``reference``: ``{"section.key": value}`` (a
    top-level key such as ``feature_set`` keeps its own name), in the config's order."""
    return _differences(config.to_dict(), reference.to_dict(), "")


def describe_change(key: str, value: Any, *, show: Callable[[Any], str] = str) -> str:
    """One key of `config_changes` in words: ``key = value`` (the value as ``show`` writes
    it), or ``key unset`` for a key the arm leaves out (a rule off, or a default that follows
    another setting, such as the head's feature set following the pipeline's)."""
    return f"{key} unset" if value is None else f"{key} = {show(value)}"


def _differences(mine: dict[str, Any], theirs: dict[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mine.items():
        other = theirs.get(key)
        if isinstance(value, dict) and isinstance(other, dict):
            out.update(_differences(value, other, f"{prefix}{key}."))
        elif key not in theirs or value != other:
            out[f"{prefix}{key}"] = value
    for key in theirs.keys() - mine.keys():  # a rule switched off (a None left out)
        out[f"{prefix}{key}"] = None
    return out


def arm_row(name: str, run: dict[str, Any], *, seconds: float) -> dict[str, Any]:
    """One arm's row of the comparison, from the dict `run_walkforward` returned."""
    overall = run["evaluation"]["overall"]
    strategy = run["backtest"]["strategies"][EXPERIMENT_STRATEGY]
    models = run.get("layer1_models") or {}
    return {
        "name": name,
        "wall_s": round(seconds, 1),
        "layer1": {
            "macro_f1_all_rows": overall.get("regime_all_rows_macro_f1"),
            "macro_f1_labelled": overall.get("regime_macro_f1"),
            "log_loss_all_rows": overall.get("regime_all_rows_log_loss"),
            "models_fitted": models.get("fitted_before_folds", 0)
            + models.get("fitted_in_folds", 0),
            "models_read_back": models.get("read_back_in_folds", 0),
        },
        "head": {
            "ap": overall.get("ap"),
            "base_rate": overall.get("base_rate"),
            "roc_auc": overall.get("roc_auc"),
            "rank_ic": overall.get("rank_ic_mean"),
            "rank_ic_ir": overall.get("rank_ic_ir"),
            "rank_ic_next": overall.get("rank_ic_next_mean"),
            "rank_ic_no_state_probs": overall.get("rank_ic_no_state_probs_mean"),
            "rank_ic_next_no_state_probs": overall.get("rank_ic_next_no_state_probs_mean"),
        },
        "backtest": {
            key: strategy.get(key)
            for key in ("sharpe", "cagr", "max_drawdown", "turnover", "net_exposure")
        },
    }


def run_experiment(
    source: Source,
    out: str | Path,
    arms: Sequence[Arm],
    *,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    verbose: bool = True,
    executor: ExecutorConfig | None = None,
    on_arm: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Walk every arm forward on ``source`` and write the experiment to ``out``.

    Parameters
    ----------
    source : path or frame
        Canonical prices, as `run_walkforward` takes them.
    out : str or Path
        New or empty folder, or an earlier experiment's: the experiment is written beside it
        and renamed into place when every arm is done, so an interrupted experiment leaves
        the earlier one whole.
    arms : sequence of Arm
        The configurations, the first being the reference of each row's ``changes``; they
        must agree on ``[walkforward]`` and ``[backtest]``.
    cache_dir, use_cache, verbose, executor
        As `run_walkforward`; one cache serves every arm.
    on_arm : callable, optional
        Called with each arm's row as soon as its walk-forward is done.

    Returns
    -------
    dict
        The content of ``experiment.json``: ``arms`` (the rows, in the order given, each with
        its ``changes`` against the first arm), ``reference`` (buy-and-hold on the same days
        and costs), the shared ``walkforward`` and ``backtest`` sections, and the source.

    Raises
    ------
    ConfigError
        No arm, a bad or repeated name, or arms that differ in ``[walkforward]`` or
        ``[backtest]``.
    OutputExistsError
        ``out`` is something other than a new, empty or experiment folder.
    """
    arms = list(arms)
    _check_arms(arms)
    folder = Path(out)
    check_replaceable(folder, kind="experiment", option="`out`")
    rows: list[dict[str, Any]] = []
    reference: dict[str, Any] = {}
    started = time.perf_counter()
    with atomic_dir(folder, kind="experiment", option="`out`") as tmp:
        for i, arm in enumerate(arms, start=1):
            if verbose:
                print(f"[m002 experiment] arm {i}/{len(arms)}: {arm.name}", flush=True)
            t0 = time.perf_counter()
            run = run_walkforward(
                source,
                tmp / "runs" / arm.name,
                arm.config,
                cache_dir=cache_dir,
                use_cache=use_cache,
                verbose=verbose,
                executor=executor,
            )
            row = arm_row(arm.name, run, seconds=time.perf_counter() - t0)
            row["changes"] = config_changes(arm.config, arms[0].config)
            rows.append(row)
            reference = run["backtest"]["strategies"].get(_REFERENCE_STRATEGY) or {}
            if on_arm is not None:
                on_arm(row)
        result = {
            "m002_version": __version__,
            "created": datetime.now().isoformat(timespec="seconds"),
            "source": str(source) if isinstance(source, str | Path) else "<frame>",
            "walkforward": dataclasses.asdict(arms[0].config.walkforward),
            "backtest": dataclasses.asdict(arms[0].config.backtest),
            "strategy": EXPERIMENT_STRATEGY,
            "arms": rows,
            "reference": {
                _REFERENCE_STRATEGY: {
                    key: reference.get(key)
                    for key in ("sharpe", "cagr", "max_drawdown", "turnover", "net_exposure")
                }
            },
            "total_s": round(time.perf_counter() - started, 1),
        }
        write_json(tmp / EXPERIMENT_FILE, result)
    return result
