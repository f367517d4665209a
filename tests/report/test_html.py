from __future__ import annotations

import pytest

from m002.report._html import fill_template, format_value, not_available, options


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (0.123456, "pct", "12.35%"),
        (-0.2, "pct", "-20.00%"),
        (1.23456, "ratio", "1.23"),
        (4.56, "days", "4.6"),
        (12345, "int", "12,345"),
        (12345.0, "int", "12,345"),
        (0.56789, "metric", "0.568"),
        (None, "pct", "—"),
        (True, "ratio", "True"),
        ("<b>", "ratio", "&lt;b&gt;"),
    ],
)
def test_format_value(value: object, kind: str, expected: str) -> None:
    assert format_value(value, kind) == expected


def test_fill_template_is_one_pass() -> None:
    template = "a <!--m002:x--> b <!--m002:y-->"
    filled = fill_template(template, {"x": "<!--m002:y-->", "y": "Y"})
    assert filled == "a <!--m002:y--> b Y"


def test_fill_template_rejects_parts_without_a_placeholder() -> None:
    with pytest.raises(KeyError, match=r"\['z'\]"):
        fill_template("<!--m002:x-->", {"x": "", "z": ""})


def test_options_and_notes_escape_their_text() -> None:
    html = options(['A"B', "<C>"], select_id="s", label="Pick")
    assert '<option value="A&quot;B">A"B</option>' in html
    assert '<option value="&lt;C&gt;">&lt;C&gt;</option>' in html
    assert not_available("X", "a < b") == '<p class="na">X not available: a &lt; b</p>'
