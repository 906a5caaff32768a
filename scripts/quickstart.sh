#!/usr/bin/env bash
# Sets everything up and runs the quickstart ingestion into the embedded catalog (no services).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh
exec .venv/bin/floe-ingest run examples/quickstart.yaml "$@"
