"""Report: one self-contained HTML page for a walk-forward run directory.

`render_report` reads what ``m002 walkforward``, ``m002 backtest`` and, for a tuned run,
``m002 tune`` wrote and draws it; it computes nothing of its own (DESIGN.md), so the page and
the JSON files always agree.
"""

from __future__ import annotations

from m002.report._report import render_report

__all__ = ["render_report"]
