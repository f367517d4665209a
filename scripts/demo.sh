#!/usr/bin/env bash
# Install everything into .venv, then run the main job on the embedded synthetic data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/m002 demo "$@"
