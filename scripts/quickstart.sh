#!/usr/bin/env bash
# Sets everything up and runs the quickstart into the embedded catalog (.floe/, no services):
# builds the SQLite database, starts the local REST API, runs `floe-ingest run examples/quickstart.yaml`.
# Extra arguments go to `floe-ingest run` (e.g. --json).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh --runtime
exec .venv/bin/python examples/quickstart.py "$@"
