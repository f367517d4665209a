"""`M002Config`: every parameter of the pipeline as one frozen, typed object.

A config file (TOML, read by the CLI) maps onto it section by section with `config_from_dict`,
which rejects unknown keys and bad values with the section and key in the message. The
sections are also the cache's units: changing ``policy`` leaves the keys of the features,
regime and head stages as they were.
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from dataclasses import dataclass, field, fields
from typing import Any

from m002._checks import check_int, check_mode
from m002._dates import parse_period
from m002._schema import MAX_GAP_DAYS
from m002.exceptions import ConfigError
from m002.features import FEATURE_SETS, feature_names
from m002.labels import RegimeLabelConfig, TargetConfig
from m002.policy import PolicyConfig
from m002.portfolio import PortfolioConfig

if typing.TYPE_CHECKING:
    from m002.head import MultiTaskHead

__all__ = [
    "CrossFitConfig",
    "HeadParams",
    "M002Config",
    "RegimeParams",
    "check_feature_set",
    "check_known_keys",
    "config_from_dict",
    "config_to_dict",
    "head_feature_sets",
    "pipeline_feature_sets",
    "section_from_dict",
]


def pipeline_feature_sets() -> list[str]:
    """The sets of `m002.features.FEATURE_SETS` the pipeline can build: those holding every
    feature of the m002 set, which layer 1 reads."""
    m002 = set(feature_names("m002"))
    return sorted(name for name in FEATURE_SETS if m002 <= set(feature_names(name)))


def head_feature_sets() -> list[str]:
    """The sets the head may read (``[head] feature_set``): a pipeline set, or Alpha158
    alone."""
    return sorted({*pipeline_feature_sets(), "alpha158"})


def check_feature_set(name: object) -> None:
    """`ConfigError` unless ``name`` is one of `pipeline_feature_sets`."""
    allowed = pipeline_feature_sets()
    if name not in allowed:
        msg = (
            f"`feature_set` must be one of {', '.join(map(repr, allowed))} (a set holding "
            f"every m002 feature, which layer 1 reads), got `feature_set={name!r}`"
        )
        raise ConfigError(msg)


@dataclass(frozen=True)
class RegimeParams:
    """`RegimeClassifier` parameters (see its docstring)."""

    seq_len: int = 20
    hidden_size: int = 32
    num_layers: int = 1
    dropout: float = 0.1
    batch_size: int = 256
    max_epochs: int = 10
    patience: int = 3
    lr: float = 6e-3
    lr_schedule: str = "cosine"
    weight_decay: float = 1e-4
    label_smoothing: float = 0.15
    valid_fraction: float = 0.2
    seed: int = 0
    threads: int = 1
    model: str = "lstm"
    n_heads: int = 4
    loss: str = "cross_entropy"
    focal_gamma: float = 2.0
    sampling: str = "balanced_batch"
    curriculum: str = "none"
    curriculum_epochs: int = 2
    pseudo_label_threshold: float | None = None
    max_windows_per_epoch: int | None = None

    def __post_init__(self) -> None:
        from m002.regime import RegimeClassifier

        RegimeClassifier(**dataclasses.asdict(self))._validate_params()


@dataclass(frozen=True)
class HeadParams:
    """`MultiTaskHead` parameters (see its docstring), which features it reads, and how the
    pipeline fits it.

    ``use_state_probs`` False trains the head on the m002 features alone, without layer 1's
    ``state_prob_*`` (the "does layer 1 add value?" ablation); the rows it is fitted on are the
    same as with them. ``target`` is what the return model learns (``raw``, ``excess``,
    ``vol_scaled_excess``, ``rank``, ``zscore``: `m002.labels.return_target`; the shipped
    default is ``excess``, chosen with the portfolio's defaults, see
    `m002.portfolio.PortfolioConfig`, while `MultiTaskHead` alone keeps the spec's ``raw``),
    ``loss`` its loss (``l2`` or ``huber``). ``normalize`` rescales each feature within each
    date (``none``, ``cs_rank``, ``cs_robust_zscore``) and ``fill`` says what a missing value
    becomes (``none``: left missing, ``zero``): `MultiTaskHead` defines both. ``reg_alpha`` (L1)
    and ``max_depth`` (-1: no limit) shape the trees with the other tree parameters. ``model``
    is the tree library (``lightgbm``, ``xgboost``) and ``sampling`` over-samples the rebound
    classifier's fitting rows (``none``, ``smote``, ``adasyn``); ``xgboost``, ``smote`` and
    ``adasyn`` need ``pip install 'm002[experiments]'``. ``feature_set`` is the set whose
    features the head reads (`head_feature_sets`; None: the pipeline's ``feature_set``), so that
    a head on Alpha158 alone can be set beside one on every built feature; the pipeline must
    build it.

    Fitting: each booster stops early (``early_stopping_rounds``) on the last
    ``early_stopping_fraction`` of the head's training dates, after a purge of ``horizon +
    1`` dates, watching its loss, but for the return model, which watches its mean daily
    rank IC there (``return_stopping = "rank_ic"``, the pipeline's default; `MultiTaskHead`
    alone stops on the loss); ``n_estimators`` is the most trees it may grow. With
    ``refit_all`` the production head is then fitted again on every training date, the
    held-out block included, with the number of trees each booster chose, so that it learns
    from the most recent data too; the held-out metrics are those of the early-stopped head,
    which never saw that block.
    """

    n_estimators: int = 600
    learning_rate: float = 0.1
    num_leaves: int = 31
    min_child_samples: int = 100
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 1.0
    reg_alpha: float = 0.0
    max_depth: int = -1
    target: str = "excess"
    loss: str = "l2"
    huber_delta: float | None = None
    normalize: str = "none"
    fill: str = "none"
    model: str = "lightgbm"
    sampling: str = "none"
    early_stopping_rounds: int = 20
    return_stopping: str = "rank_ic"
    n_jobs: int = 2
    seed: int = 0
    use_state_probs: bool = True
    feature_set: str | None = None
    early_stopping_fraction: float = 0.2
    refit_all: bool = True

    def __post_init__(self) -> None:
        allowed = head_feature_sets()
        if self.feature_set is not None and self.feature_set not in allowed:
            msg = (
                f"`feature_set` must be one of {', '.join(map(repr, allowed))}, or left out "
                f"for the pipeline's own, got `feature_set={self.feature_set!r}`"
            )
            raise ConfigError(msg)
        # the head's parameters, in the pipeline that builds every feature (so any head set)
        widest = max(pipeline_feature_sets(), key=lambda name: len(feature_names(name)))
        self.build(widest)._validate_params()
        if not 0.0 < self.early_stopping_fraction < 1.0:
            value = self.early_stopping_fraction
            msg = (
                "`early_stopping_fraction` must be in (0, 1), got "
                f"`early_stopping_fraction={value!r}`"
            )
            raise ConfigError(msg)

    def feature_columns(self, feature_set: str = "m002") -> list[str]:
        """The head's input columns in a pipeline that builds ``feature_set``.

        The head's own set is ``self.feature_set``, or ``feature_set`` where that is None.
        Where it holds the m002 set, the columns are the scale-free m002 features
        (`m002.regime.DEFAULT_SEQUENCE_FEATURES`) and then its other features in the set's
        order (the 157 Alpha158 columns of ``"m002+alpha158"``); otherwise (``"alpha158"``)
        its features. Then the ``state_prob_*`` columns with ``use_state_probs``. For
        ``"m002"`` this is exactly `m002.head.HEAD_FEATURES` (or the m002 features alone).

        Raises
        ------
        ConfigError
            If ``feature_set`` is not one of `pipeline_feature_sets`, or the head's set has a
            feature that ``feature_set`` does not build.
        """
        from m002.regime import DEFAULT_SEQUENCE_FEATURES, state_prob_columns

        check_feature_set(feature_set)
        own = self.feature_set or feature_set
        names, built = feature_names(own), set(feature_names(feature_set))
        if not set(names) <= built:
            msg = (
                f"the head reads `feature_set={own!r}`, whose features the pipeline's "
                f"`feature_set={feature_set!r}` does not build; set the pipeline's "
                f"`feature_set` to one that holds them (e.g. 'm002+alpha158')"
            )
            raise ConfigError(msg)
        m002 = set(feature_names("m002"))
        base = DEFAULT_SEQUENCE_FEATURES if m002 <= set(names) else ()
        return [
            *base,
            *(name for name in names if name not in m002),
            *(state_prob_columns() if self.use_state_probs else ()),
        ]

    def build(self, feature_set: str = "m002") -> MultiTaskHead:
        """An unfitted `MultiTaskHead` with these parameters, reading `feature_columns` of
        ``feature_set``.

        Raises
        ------
        ConfigError
            As `feature_columns`.
        """
        from m002.head import MultiTaskHead

        params = dataclasses.asdict(self)
        for pipeline_only in ("use_state_probs", "feature_set", "early_stopping_fraction",
                              "refit_all"):  # fmt: skip
            params.pop(pipeline_only)
        return MultiTaskHead(**params, feature_columns=self.feature_columns(feature_set))


@dataclass(frozen=True)
class CrossFitConfig:
    """How layer-1 probabilities for layer-2 training are produced, and the head's split.

    Parameters
    ----------
    block : str
        The calendar is cut into blocks: ``"<n>y"`` (calendar years), ``"<n>m"`` (months
        from January) or ``"<n>d"`` (trading dates from the data's first). Each block gets
        its ``state_prob_*`` from a regime model fitted only on the dates before it, less a
        purge gap of ``seq_len + lookahead`` dates. Each model is cached under the content of
        the rows it fits on, so a walk-forward fits each block's model once (align ``block``
        with the walk-forward's ``retrain_every`` for that).
    min_fit_dates : int
        A block is predicted only when its model has at least this many dates to fit on;
        the earlier blocks have no out-of-sample probabilities and are left out of the head's
        training.
    warm_start_epochs : int
        0: every model starts from random weights. n > 0: each block's model (and the final
        one) starts from the previous block's weights and trains at most n epochs: much
        cheaper, but the models then form one chain that cannot be fitted in parallel, and on
        the sample's walk-forward (n = 3) layer 1's out-of-sample macro F1 was lower in 13 of
        14 folds (0.828 against 0.840), so it is off by default.
    head_valid_fraction : float
        The last share of the (cross-fitted) dates on which the head is evaluated (spec:
        80/20), after a purge gap of ``horizon + 1`` dates.
    """

    block: str = "1y"
    min_fit_dates: int = 200
    warm_start_epochs: int = 0
    head_valid_fraction: float = 0.2

    def __post_init__(self) -> None:
        parse_period(self.block, "block")
        check_int("min_fit_dates", self.min_fit_dates, 1)
        check_int("warm_start_epochs", self.warm_start_epochs, 0)
        if not 0.0 < self.head_valid_fraction < 1.0:
            msg = (
                "`head_valid_fraction` must be in (0, 1), got "
                f"`head_valid_fraction={self.head_valid_fraction}`"
            )
            raise ConfigError(msg)


@dataclass(frozen=True)
class M002Config:
    """Everything `M002FullArchitecture` needs, by section.

    ``feature_set`` is the set of features built (`pipeline_feature_sets`: ``"m002"``, or
    ``"m002+alpha158"``, whose Alpha158 columns the head reads besides the m002 ones; layer 1
    reads the m002 features either way).

    ``validate`` is how input prices are checked (`m002.data`); ``max_gap_days`` is where a
    ticker's history breaks: no feature window and no layer-1 sequence spans a gap of more
    calendar days than that.
    """

    feature_set: str = "m002"
    validate: str = "strict"
    max_gap_days: int = MAX_GAP_DAYS
    labels: RegimeLabelConfig = field(default_factory=RegimeLabelConfig)
    targets: TargetConfig = field(default_factory=TargetConfig)
    regime: RegimeParams = field(default_factory=RegimeParams)
    crossfit: CrossFitConfig = field(default_factory=CrossFitConfig)
    head: HeadParams = field(default_factory=HeadParams)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    portfolio: PortfolioConfig = field(default_factory=PortfolioConfig)

    def __post_init__(self) -> None:
        check_feature_set(self.feature_set)
        self.head.feature_columns(self.feature_set)
        check_mode(self.validate)
        check_int("max_gap_days", self.max_gap_days, 1)

    @property
    def label_reach(self) -> int:
        """How many dates the furthest-reaching label looks ahead: the head's targets
        (``targets.horizon``) or layer 1's labels (``labels.lookahead``). A walk-forward's
        embargo is at least one date more."""
        return max(self.targets.horizon, self.labels.lookahead)


_SECTIONS: dict[str, type] = {
    "labels": RegimeLabelConfig,
    "targets": TargetConfig,
    "regime": RegimeParams,
    "crossfit": CrossFitConfig,
    "head": HeadParams,
    "policy": PolicyConfig,
    "portfolio": PortfolioConfig,
}


def check_known_keys(keys: typing.Iterable[str], allowed: list[str], where: str) -> None:
    """`ConfigError` naming each key not in ``allowed``, with the closest allowed one."""
    unknown = [k for k in keys if k not in allowed]
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, allowed, n=1)
            hints.append(f"`{key}`" + (f" (did you mean `{close[0]}`?)" if close else ""))
        msg = f"unknown key(s) in {where}: {', '.join(hints)}; allowed: {sorted(allowed)}"
        raise ConfigError(msg)


def _check_type(value: Any, expected: Any, where: str) -> Any:
    """Accept ints for floats; reject bools for numbers and any other mismatch."""
    kind = expected if isinstance(expected, type) else None
    ok = True
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif kind is str:
        ok = isinstance(value, str)
    if not ok:
        msg = f"{where} must be of type {kind.__name__ if kind else expected}, got {value!r}"
        raise ConfigError(msg)
    return value


def section_from_dict(cls: type, values: Any, name: str) -> Any:
    """Config dataclass ``cls`` from the table ``[name]``: unknown keys and wrong types are a
    `ConfigError` naming the section and key."""
    if not isinstance(values, dict):
        msg = f"[{name}] must be a table of keys, got {values!r}"
        raise ConfigError(msg)
    allowed = {f.name: f for f in fields(cls)}
    check_known_keys(values, list(allowed), f"[{name}]")
    hints = typing.get_type_hints(cls)
    typed = {k: _check_type(v, hints[k], f"[{name}] {k}") for k, v in values.items()}
    try:
        return cls(**typed)
    except ConfigError as exc:
        msg = f"[{name}] {exc}"
        raise ConfigError(msg) from None


def config_from_dict(data: dict[str, Any]) -> M002Config:
    """Build an `M002Config` from nested dicts (a parsed TOML file); missing keys keep their
    defaults, unknown ones are an error naming the closest valid key."""
    check_known_keys(data, [f.name for f in fields(M002Config)], "the config")
    hints = typing.get_type_hints(M002Config)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS:
            kwargs[key] = section_from_dict(_SECTIONS[key], value, key)
        else:
            kwargs[key] = _check_type(value, hints[key], key)
    return M002Config(**kwargs)


def config_to_dict(config: M002Config) -> dict[str, Any]:
    """The config as plain nested dicts (JSON/TOML-ready).

    A key whose value is None and whose default is None (a rule that is off, such as
    ``[portfolio] vol_target``) is left out: TOML has no null, and `config_from_dict` gives
    a missing key its default.
    """
    out: dict[str, Any] = _without_default_nones(config)
    return out


def _without_default_nones(obj: Any) -> Any:
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return obj
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value is None and f.default is None:
            continue
        out[f.name] = _without_default_nones(value)
    return out
