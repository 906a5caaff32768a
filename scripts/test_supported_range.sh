#!/usr/bin/env bash
# The supported-range job: runs the `supported_range` tests (every unit test, the tests/unit/compat
# canaries among them, and one integration module per write path) against the LOWEST and the
# HIGHEST dlt and PyIceberg that pyproject.toml allows, each in its own venv (.venv-range-min,
# .venv-range-max).
#
#   bash scripts/test_supported_range.sh             # min, then max
#   bash scripts/test_supported_range.sh max         # one end only
#   FLOE_RANGE_DLT=1.30.0 FLOE_RANGE_PYICEBERG=0.11.1 bash scripts/test_supported_range.sh try
#                                                    # any versions, e.g. a candidate new floor;
#                                                    # FLOE_RANGE_OVERRIDES='pkg>=1,<2 ...' adds
#                                                    # overrides (e.g. what an old floor needs)
#   bash scripts/test_supported_range.sh min -- -x   # arguments after -- go to pytest
#
# The versions are resolved from PyPI at run time from the bounds in pyproject.toml, so a new
# dlt 1.31.x or PyIceberg 0.12.x is tested by the "max" run the day it is published. Everything
# else comes from uv.lock, except what those versions force to move (listed in the output). The run fails if a version other than the resolved one got installed,
# if `uv pip check` finds a conflict, or if any selected test fails, errors or SKIPS (a skipped
# test proves nothing about the version it was meant to check).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh --all  # uv ($FLOE_UV) and .venv, whose Python the range venvs reuse

RANGE_PACKAGES=(dlt pyiceberg)
RANGE_LABELS=()
RANGE_PYTEST_ARGS=()
while (($#)); do
  case "$1" in
    min | max | try) RANGE_LABELS+=("$1") ;;
    --) shift; RANGE_PYTEST_ARGS=("$@"); break ;;
    *) echo "test_supported_range.sh: unknown argument '$1' (min, max, try, -- pytest args)" >&2; exit 2 ;;
  esac
  shift
done
((${#RANGE_LABELS[@]})) || RANGE_LABELS=(min max)

_range_say() {
  echo "supported-range: $*" >&2
}

_range_python() {  # the interpreter of .venv (not its venv wrapper): every venv uses the same one
  .venv/bin/python -c 'import sys; print(sys._base_executable)'
}

_range_resolve() {  # _range_resolve REQUIREMENT lowest|highest -> the version PyPI has at that end
  local requirement=$1 resolution=$2 name
  name=${requirement%%[[<>=!~ ]*}
  echo "$requirement" | "$FLOE_UV" pip compile - --no-deps --resolution "$resolution" \
    --python "$RANGE_PYTHON" --refresh-package "$name" --no-header --no-annotate --quiet \
    | sed -n "s/^${name,,}==//p"
}

_range_version() {  # _range_version LABEL PACKAGE REQUIREMENT -> the version to install
  local label=$1 package=$2 requirement=$3 forced
  forced="FLOE_RANGE_${package^^}"
  case "$label" in
    min) _range_resolve "$requirement" lowest ;;
    max) _range_resolve "$requirement" highest ;;
    try)
      if [[ -z "${!forced:-}" ]]; then
        _range_say "'try' needs $forced=<version>"
        return 1
      fi
      echo "${!forced}"
      ;;
  esac
}

_range_selected_paths() {  # the unit tests (compat canaries named: each path must run tests)
  echo tests/unit                  # + the integration modules marked supported_range
  if [[ -d tests/unit/compat ]]; then
    echo tests/unit/compat
  fi
  grep -rlE --include='test_*.py' 'pytest\.mark\.supported_range' tests | grep -v '^tests/unit/' \
    | sort
}

_range_run() {  # _range_run LABEL: builds .venv-range-LABEL and runs the tests in it
  local label=$1 venv=".venv-range-$1" started package requirement version group
  local -a pins=() overrides=() paths=()
  started=$(_setup_now)
  for package in "${RANGE_PACKAGES[@]}"; do
    requirement=$(.venv/bin/python scripts/supported_range.py requirement "$package")
    version=$(_range_version "$label" "$package" "$requirement")
    if [[ -z "$version" ]]; then
      _range_say "$label: no version of PyPI satisfies $requirement"
      return 1
    fi
    _range_say "$label: $requirement -> $package==$version"
    pins+=("$package==$version")
    # the extras stay: the override replaces the requirement, extras included
    overrides+=("${requirement%%[<>=!~]*}==$version")
  done

  rm -rf "$venv"
  "$FLOE_UV" venv --quiet --python "$RANGE_PYTHON" "$venv"
  # FLOE_RANGE_OVERRIDES: more "name==version" overrides, for trying a version (see 'try')
  # shellcheck disable=SC2206
  overrides+=(${FLOE_RANGE_OVERRIDES:-})
  printf '%s\n' "${overrides[@]}" >"$venv/overrides.txt"
  # Everything else as locked: uv.lock (all groups, like .venv) seeds the output file, whose pins
  # `uv pip compile` keeps as preferences; it moves only what the two versions force (e.g.
  # PyIceberg 0.11.1 wants cachetools<7), and says so. No hashes: the overridden pins change.
  "$FLOE_UV" export --frozen --all-groups --no-hashes --no-emit-project --no-header \
    --format requirements-txt --quiet --output-file "$venv/requirements.txt"
  local -a group_args=()
  for group in $(.venv/bin/python scripts/supported_range.py groups); do
    group_args+=(--group "$group")
  done
  _setup_step "$label: resolving uv.lock with ${pins[*]}" \
    "$FLOE_UV" pip compile pyproject.toml "${group_args[@]}" --override "$venv/overrides.txt" \
    --python "$venv/bin/python" --no-header --quiet --output-file "$venv/requirements.txt"
  "$FLOE_UV" pip freeze --python .venv/bin/python --exclude-editable >"$venv/locked.txt"
  .venv/bin/python scripts/supported_range.py moved "$venv/locked.txt" "$venv/requirements.txt"
  _setup_step "$label: installing it into $venv" \
    "$FLOE_UV" pip sync --python "$venv/bin/python" --compile-bytecode --quiet \
    "$venv/requirements.txt"
  "$FLOE_UV" pip install --python "$venv/bin/python" --quiet --no-deps -e .
  .venv/bin/python scripts/supported_range.py installed "$venv/bin/python" "${pins[@]}"
  if [[ "$label" == try ]]; then  # a version outside pyproject's range conflicts with it, at least
    "$FLOE_UV" pip check --python "$venv/bin/python" || _range_say "try: conflicts above ignored"
  else
    _setup_step "$label: uv pip check" "$FLOE_UV" pip check --python "$venv/bin/python"
  fi

  if [[ -d src/floe_ingestion_dlt/compat && ! -d tests/unit/compat ]]; then
    _range_say "src/floe_ingestion_dlt/compat has no canary tests in tests/unit/compat"
    return 1
  fi
  mapfile -t paths < <(_range_selected_paths)
  _range_say "$label: ${#paths[@]} test paths: ${paths[*]}"
  local pytest_started
  pytest_started=$(_setup_now)
  local status=0
  "$venv/bin/python" -m pytest -m supported_range -p no:cacheprovider -q \
    --junitxml "$venv/junit.xml" "${paths[@]}" "${RANGE_PYTEST_ARGS[@]}" || status=$?
  # one line per selected path and per test that did not pass (skips included)
  .venv/bin/python scripts/supported_range.py junit "$venv/junit.xml" "${paths[@]}" || status=1
  if ((status)); then
    _range_say "$label (${pins[*]}): NOT green after $(_setup_since "$started") s"
    return "$status"
  fi
  _range_say "$label (${pins[*]}): green; tests $(_setup_since "$pytest_started") s," \
    "all $(_setup_since "$started") s"
}

RANGE_PYTHON=$(_range_python)
RANGE_STARTED=$(_setup_now)
for label in "${RANGE_LABELS[@]}"; do
  _range_run "$label"
done
_range_say "${RANGE_LABELS[*]}: green in $(_setup_since "$RANGE_STARTED") s"
