#!/usr/bin/env bash
# Sets everything up and runs the whole test suite (unit + integration against real services
# that the tests start themselves: PostgreSQL, SeaweedFS S3 + Iceberg REST catalog, HTTP API).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh --all
exec .venv/bin/python -m pytest "$@"
