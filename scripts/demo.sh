#!/usr/bin/env bash
# Install everything into .venv, then run the main job on the embedded synthetic data:
# train, today's decisions, a walk-forward evaluation and its HTML report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# demo_out/ keeps the data, model, decisions, walk-forward run and report.html
.venv/bin/m002 demo --out demo_out "$@"
