"""Render docs/features.md from the feature registry, so the docs cannot drift from the code."""

from __future__ import annotations

from m002.features._sets import FEATURE_SETS, feature_names, longest_warmup

__all__ = ["render_feature_docs"]

_INTRO = """\
# Feature catalogue

Generated from `m002.features` by `python -m m002.features._docs > docs/features.md`; a test
fails when this file and the code disagree.

Every feature is a polars expression over one ticker's rows in date order (rows are trading
days, not calendar days). **Warm-up** is the number of rows at the start of each ticker where
the value is null; `build_dataset(..., warmup="drop")` drops the first
`longest_warmup(set)` rows of each ticker, `warmup="flag"` adds a boolean `is_warmup` column
instead. After the warm-up no feature is null on valid prices except where a row says so
(a zero denominator). Nothing is forward-filled and no gap is filled with a made-up number.

A ticker's history breaks where two of its rows are more than `max_gap_days` calendar days
apart (`m002._schema.MAX_GAP_DAYS`, 10, by default; a keyword of `add_features`,
`add_m002_features` and `build_dataset`): the rows after such a gap get the features they would
get as a new ticker starting there. No look-back window spans the gap, every feature goes
through its warm-up again (null, or dropped or flagged with `warmup=`), and `m002 data check`
lists each such gap under the rule `long_gap`. Long weekends and exchange closures stay below
the limit.

All features are causal: the value on row t reads rows t, t-1, ... of the same ticker only
(tested by truncating and by perturbing the data after random dates, bit for bit).
Events and tags are `Int8` 0/1 flags; `days_since_volume_regain` is `Int16`; the rest `Float64`.

| set | adds | features | longest warm-up (rows) |
|---|---|---|---|
"""


def render_feature_docs() -> str:
    """The markdown text of docs/features.md."""
    lines = [_INTRO.rstrip("\n")]
    previous: set[str] = set()
    for name in FEATURE_SETS:
        names = feature_names(name)
        added = [n for n in names if n not in previous]
        lines.append(f"| `{name}` | {len(added)} | {len(names)} | {longest_warmup(name)} |")
        previous = set(names)
    previous = set()
    for name, features in FEATURE_SETS.items():
        title = "v1" if name == "v1" else f"{name} (adds to the previous set)"
        lines += [
            "",
            f"## {title}",
            "",
            "| feature | warm-up | units | definition |",
            "|---|---|---|---|",
        ]
        for f in features:
            if f.name.startswith("_") or f.name in previous:
                continue
            formula = f.formula.replace("|", "\\|")
            lines.append(f"| `{f.name}` | {f.warmup} | {f.units} | {formula} |")
        previous = set(feature_names(name))
    from m002.head import HEAD_FEATURES

    lines += [
        "",
        "## Layer-2 inputs (`m002.head.HEAD_FEATURES`)",
        "",
        "Every m002 feature except those in price units (`atr_14`), which mean different",
        "things across tickers, plus the five layer-1 probabilities (cross-fitted when training):",
        "",
        ", ".join(f"`{name}`" for name in HEAD_FEATURES),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(render_feature_docs(), end="")
