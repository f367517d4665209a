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

| set | new features | features | longest warm-up (rows) |
|---|---|---|---|
"""


def _bases(names: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per set, the earlier sets it is made of: the one before it when it extends that one
    (v2 of v1), or the earlier sets whose union it is (m002+alpha158); none for a set that
    starts afresh (alpha158)."""
    out: dict[str, list[str]] = {}
    order = list(names)
    for i, name in enumerate(order):
        mine = set(names[name])
        inside = [p for p in order[:i] if set(names[p]) <= mine]
        # keep the largest sets only: v1 is inside m002, which m002+alpha158 already names
        out[name] = [p for p in inside if not any(set(names[p]) < set(names[q]) for q in inside)]
    return out


def render_feature_docs() -> str:
    """The markdown text of docs/features.md."""
    lines = [_INTRO.rstrip("\n")]
    names = {name: feature_names(name) for name in FEATURE_SETS}
    bases = _bases(names)
    listed: set[str] = set()
    new: dict[str, list[str]] = {}
    for name in FEATURE_SETS:
        new[name] = [n for n in names[name] if n not in listed]
        listed |= set(new[name])
        lines.append(
            f"| `{name}` | {len(new[name])} | {len(names[name])} | {longest_warmup(name)} |"
        )
    for name, features in FEATURE_SETS.items():
        base = " + ".join(bases[name])
        title = f"{name} (adds to {base})" if base and new[name] else name
        lines += ["", f"## {title}", ""]
        if not new[name]:
            lines.append(f"The union of {base}: every feature is listed above.")
            continue
        lines += ["| feature | warm-up | units | definition |", "|---|---|---|---|"]
        for f in features:
            if f.name in new[name] and not f.name.startswith("_"):
                formula = f.formula.replace("|", "\\|")
                lines.append(f"| `{f.name}` | {f.warmup} | {f.units} | {formula} |")
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
