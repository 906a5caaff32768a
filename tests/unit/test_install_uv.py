"""scripts/install_uv.py picks the uv wheel built for the machine it runs on."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install_uv.py"
WHEELS = [
    "uv-0.13.9-py3-none-linux_armv6l.whl",
    "uv-0.13.9-py3-none-macosx_10_12_x86_64.whl",
    "uv-0.13.9-py3-none-macosx_11_0_arm64.whl",
    "uv-0.13.9-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64.whl",
    "uv-0.13.9-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "uv-0.13.9-py3-none-musllinux_1_1_x86_64.whl",
    "uv-0.13.9-py3-none-win_amd64.whl",
    "uv-0.13.9.tar.gz",
]


@pytest.fixture
def install_uv() -> ModuleType:
    spec = importlib.util.spec_from_file_location("install_uv", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("platform", "machine", "libc", "expected"),
    [
        ("linux", "x86_64", "glibc", "manylinux_2_17_x86_64"),
        ("linux", "aarch64", "glibc", "manylinux_2_17_aarch64"),
        ("linux", "x86_64", "", "musllinux_1_1_x86_64"),
        ("darwin", "arm64", "", "macosx_11_0_arm64"),
        ("darwin", "x86_64", "", "macosx_10_12_x86_64"),
    ],
)
def test_the_wheel_for_this_platform(
    install_uv: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    platform: str,
    machine: str,
    libc: str,
    expected: str,
) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(install_uv.platform, "machine", lambda: machine)
    monkeypatch.setattr(install_uv.platform, "libc_ver", lambda: (libc, ""))

    chosen = install_uv.choose_wheel([{"filename": name} for name in WHEELS])

    assert expected in chosen["filename"]


def test_no_wheel_for_the_platform_says_so(
    install_uv: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(install_uv.platform, "machine", lambda: "sparc64")
    monkeypatch.setattr(install_uv.platform, "libc_ver", lambda: ("glibc", ""))

    with pytest.raises(SystemExit, match="no uv wheel matching"):
        install_uv.choose_wheel([{"filename": name} for name in WHEELS])
