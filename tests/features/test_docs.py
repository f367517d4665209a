from __future__ import annotations

from pathlib import Path

from m002.features import FEATURE_SETS, feature_names
from m002.features._docs import render_feature_docs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_docs_features_md_is_generated_from_the_code() -> None:
    expected = render_feature_docs()
    assert DOCS.read_text() == expected, (
        "docs/features.md is stale: run `python -m m002.features._docs > docs/features.md`"
    )


def test_every_public_feature_has_units_formula_and_a_docs_row() -> None:
    text = render_feature_docs()
    for name in FEATURE_SETS:
        for feature in FEATURE_SETS[name]:
            if feature.name.startswith("_"):
                continue
            assert feature.units, feature.name
            assert feature.formula, feature.name
            assert f"| `{feature.name}` | {feature.warmup} |" in text
    assert len(feature_names("m002")) == 38
