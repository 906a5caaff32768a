#!/usr/bin/env bash
# Sets up .venv from uv.lock with any Python >= 3.11, printing each step and how long it took.
#
#   bash scripts/bootstrap.sh            # runtime + every dependency group (tests, lint, benchmarks)
#   bash scripts/bootstrap.sh --runtime  # runtime + the quickstart group (DuckDB), no test tools
#
# quickstart.sh sources it with --runtime, test.sh and .ci/run with --all (always pass the mode
# when sourcing: a sourced script otherwise sees its caller's arguments).
#
# uv comes from $UV, else `uv` on PATH, else .tools/uv (an earlier run's install), else it is
# installed with the first Python >= 3.11 among $PYTHON, python3, python3.14 ... python3.11,
# python — never into that Python itself, so a PEP 668 "externally managed" system Python works:
#   1. a private virtual environment .tools/uv with pip in it;
#   2. without the venv module or pip (Debian without python3-venv): uv's wheel from PyPI,
#      checked against PyPI's sha256 and unpacked into .tools/uv/bin (scripts/install_uv.py);
#   3. last resort: pip install --user --break-system-packages uv.
# Packages are compiled to bytecode at install (uv --compile-bytecode): with
# PYTHONDONTWRITEBYTECODE=1 nothing would ever be cached and every start would recompile dlt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FLOE_SETUP_MODE=all
case "${1:-}" in
  --runtime) FLOE_SETUP_MODE=runtime ;;
  --all | "") FLOE_SETUP_MODE=all ;;
  -h | --help) sed -n '2,8p' "${BASH_SOURCE[0]}"; exit 0 ;;
  *) echo "bootstrap.sh: unknown option '$1' (use --runtime or --all)" >&2; exit 2 ;;
esac

_setup_now() {
  if [[ -n "${EPOCHREALTIME:-}" ]]; then echo "${EPOCHREALTIME/,/.}"; else date +%s; fi
}

_setup_since() {  # seconds since $1, one decimal
  awk -v a="$1" -v b="$(_setup_now)" 'BEGIN { printf "%.1f", b - a }'
}

_setup_say() {
  echo "setup: $*" >&2
}

_setup_step() {  # _setup_step "what" command args... : announces, runs, says how long it took
  local label=$1 started
  shift
  started=$(_setup_now)
  _setup_say "$label ..."
  if ! "$@" >&2; then  # stdout stays for the caller (e.g. --json)
    _setup_say "$label FAILED after $(_setup_since "$started") s"
    return 1
  fi
  _setup_say "$label: done in $(_setup_since "$started") s"
}

_setup_python_ok() {  # a working interpreter >= 3.11 (pyenv shims of absent versions fail here)
  "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
}

_setup_find_python() {  # prints the real executable of the first Python >= 3.11
  local candidate found
  for candidate in "${PYTHON:-}" python3 python3.14 python3.13 python3.12 python3.11 python; do
    [[ -n "$candidate" ]] || continue
    found=$(command -v "$candidate" 2>/dev/null) || continue
    if _setup_python_ok "$found"; then
      "$found" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  return 1
}

_setup_uv_ok() {
  "$1" --version >/dev/null 2>&1
}

_setup_find_uv() {
  local candidate
  for candidate in "${UV:-}" "$(command -v uv 2>/dev/null || true)" "$PWD/.tools/uv/bin/uv"; do
    if [[ -n "$candidate" && -x "$candidate" ]] && _setup_uv_ok "$candidate"; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

_setup_install_uv() {  # $1: a Python >= 3.11; installs uv under .tools/uv (or ~/.local)
  local python=$1 tools="$PWD/.tools/uv" requirement="uv>=0.8,<1" user_base
  rm -rf "$tools"
  if "$python" -m venv "$tools" >/dev/null 2>&1 && "$tools/bin/python" -m pip --version >/dev/null 2>&1; then
    _setup_say "installing uv into the private virtual environment .tools/uv (pip from PyPI)"
    if "$tools/bin/python" -m pip install --disable-pip-version-check --progress-bar off \
        "$requirement"; then
      return 0
    fi
  fi
  rm -rf "$tools"
  _setup_say "no venv/pip for $python: unpacking uv's wheel from PyPI into .tools/uv/bin"
  if "$python" scripts/install_uv.py "$tools/bin"; then
    return 0
  fi
  rm -rf "$tools"
  _setup_say "last resort: pip install --user --break-system-packages uv"
  "$python" -m pip install --user --break-system-packages --disable-pip-version-check \
    "$requirement" || return 1
  user_base=$("$python" -m site --user-base) || return 1
  mkdir -p "$tools/bin"
  ln -sf "$user_base/bin/uv" "$tools/bin/uv"
}

_setup_describe_python() {
  "$1" - <<'PY'
import os, sys, sysconfig
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
managed = sys.prefix == sys.base_prefix and os.path.exists(marker)
note = " (externally managed, PEP 668: nothing is installed into it)" if managed else ""
print(f"Python {sys.version.split()[0]} at {sys.executable}{note}")
PY
}

FLOE_SETUP_STARTED=$(_setup_now)
if FLOE_PYTHON=$(_setup_find_python); then
  _setup_say "$(_setup_describe_python "$FLOE_PYTHON")"
else
  FLOE_PYTHON=""
  _setup_say "no Python >= 3.11 found (python3, python3.1x, python, \$PYTHON); uv will pick or fetch one"
fi

if FLOE_UV=$(_setup_find_uv); then
  _setup_say "uv: $FLOE_UV ($("$FLOE_UV" --version))"
else
  if [[ -z "$FLOE_PYTHON" ]]; then
    _setup_say "neither uv nor a Python >= 3.11 is installed: install one of them" \
      "(https://docs.astral.sh/uv/ or your system's python3 >= 3.11) and rerun"
    exit 1
  fi
  _setup_step "installing uv" _setup_install_uv "$FLOE_PYTHON"
  FLOE_UV="$PWD/.tools/uv/bin/uv"
  _setup_say "uv: $FLOE_UV ($("$FLOE_UV" --version))"
fi

FLOE_SYNC=(sync --frozen --compile-bytecode)
if [[ "$FLOE_SETUP_MODE" == runtime ]]; then
  # --inexact: a .venv that already has the test tools keeps them
  FLOE_SYNC+=(--no-default-groups --group quickstart --inexact)
  FLOE_SYNC_LABEL="installing the runtime dependencies and DuckDB into .venv (uv.lock; no test tools)"
else
  FLOE_SYNC+=(--all-groups)
  FLOE_SYNC_LABEL="installing runtime + all dependency groups into .venv (uv.lock)"
fi
if [[ -n "$FLOE_PYTHON" && ! -x .venv/bin/python ]]; then
  FLOE_SYNC+=(--python "$FLOE_PYTHON")
fi
_setup_step "$FLOE_SYNC_LABEL" "$FLOE_UV" "${FLOE_SYNC[@]}"
# the project's own modules (an editable install: uv compiles site-packages only)
_setup_step "compiling the project's bytecode" .venv/bin/python -m compileall -q src
_setup_say "ready in $(_setup_since "$FLOE_SETUP_STARTED") s: .venv ($(.venv/bin/python --version 2>&1))"
