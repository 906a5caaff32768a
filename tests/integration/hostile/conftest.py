"""Fixtures of the hostile-input suite: the command-line driver of the CLI tests."""

from __future__ import annotations

from tests.integration.cli.conftest import cli, workdir

__all__ = ["cli", "workdir"]
