"""Installs uv without pip or venv: its wheel from PyPI, sha256-checked, unpacked into a folder.

    python3 scripts/install_uv.py .tools/uv/bin

For Pythons that can neither install packages (PEP 668 "externally managed") nor create a
virtual environment (Debian without ``python3-venv``). Standard library only. The wheel comes
from PyPI's JSON API (``$FLOE_PYPI_URL``, default https://pypi.org); its sha256 is checked
against the digest PyPI publishes before anything is unpacked.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import stat
import sys
import time
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

PYPI = os.environ.get("FLOE_PYPI_URL", "https://pypi.org").rstrip("/")
UV_VERSION = os.environ.get("FLOE_UV_VERSION", "")  # empty: the latest release


def platform_markers() -> tuple[str, ...]:
    """Substrings a uv wheel name must contain to run here (os tag, then machine)."""
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64" if sys.platform != "darwin" else "arm64"}.get(
        machine, machine
    )
    if sys.platform == "darwin":
        return ("macosx", machine)
    if sys.platform.startswith("linux"):
        libc = platform.libc_ver()[0]
        return ("manylinux" if libc == "glibc" else "musllinux", machine)
    raise SystemExit(f"install_uv.py: no uv wheel for {sys.platform}; install uv by hand")


def choose_wheel(files: list[dict[str, Any]]) -> dict[str, Any]:
    """The wheel of ``files`` (PyPI JSON ``urls``) built for this platform."""
    markers = platform_markers()
    for entry in files:
        name = str(entry["filename"])
        if name.endswith(".whl") and all(marker in name for marker in markers):
            return entry
    raise SystemExit(f"install_uv.py: PyPI has no uv wheel matching {markers}")


def main(target: Path) -> int:
    """Download, check and unpack ``uv`` (and ``uvx``) into ``target``."""
    started = time.perf_counter()
    index = f"{PYPI}/pypi/uv/{UV_VERSION + '/' if UV_VERSION else ''}json"
    with urllib.request.urlopen(index, timeout=30) as response:  # noqa: S310 - https PyPI
        release = json.load(response)
    wheel = choose_wheel(release["urls"])
    print(f"install_uv.py: downloading {wheel['filename']} from {PYPI}", file=sys.stderr)
    url = urllib.parse.urljoin(index, str(wheel["url"]))  # mirrors may answer relative URLs
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310
        payload = response.read()
    expected = wheel["digests"]["sha256"]
    actual = hashlib.sha256(payload).hexdigest()
    if actual != expected:
        raise SystemExit(f"install_uv.py: sha256 mismatch ({actual} != {expected}); not installed")
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        for member in archive.namelist():
            folder, _, name = member.rpartition("/")
            if folder.endswith(".data/scripts") and name in ("uv", "uvx"):
                destination = target / name
                destination.write_bytes(archive.read(member))
                destination.chmod(destination.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP)
    if not (target / "uv").exists():
        raise SystemExit(f"install_uv.py: {wheel['filename']} holds no uv binary")
    print(
        f"install_uv.py: uv {release['info']['version']} in {target} "
        f"({len(payload) / 1e6:.1f} MB, {time.perf_counter() - started:.1f} s)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".tools/uv/bin")))
