"""Statements of the README and docs/ that depend on what dlt really does."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_documented_default_pipelines_dir_is_dlts() -> None:
    """The plugin's default pipelines_dir is dlt's: /var/dlt/pipelines as root, else ~/.dlt."""
    from dlt.common.pipeline import get_dlt_pipelines_dir

    actual = get_dlt_pipelines_dir()
    if os.geteuid() == 0:
        assert actual == "/var/dlt/pipelines"
    else:
        assert actual.endswith("dlt/pipelines")
    for document in (REPO / "README.md", REPO / "docs" / "configuration.md"):
        text = document.read_text()
        assert "`/var/dlt/pipelines` when run as root" in text, document
        assert "`~/.dlt/pipelines`" in text, document


def test_rest_short_form_documents_cursor_param_without_contradiction() -> None:
    text = (REPO / "docs" / "configuration.md").read_text()
    assert "| `cursor_param` |" in text
    assert "use the full form and dlt's\n`incremental`" not in text
    assert "add `cursor_param` to send the cursor's last value" in text
