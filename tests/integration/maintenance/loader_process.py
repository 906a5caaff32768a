"""One plugin load in a subprocess that stops right before its Iceberg commit.

``python -m tests.integration.maintenance.loader_process LAKE DATA MODE``: MODE ``kill``
SIGKILLs the process at the commit (its data files are written, nothing references them);
MODE ``wait`` writes ``LAKE/at-commit`` and waits for ``LAKE/go`` before committing (a load
in flight).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from pyiceberg.table import Transaction

from tests.helpers import embedded_plugin, files_config


def main() -> None:
    lake, data, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    original = Transaction.commit_transaction

    def stop_at_commit(self: Transaction) -> object:
        (lake / "at-commit").write_text("1")
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        while not (lake / "go").exists():
            time.sleep(0.05)
        return original(self)

    Transaction.commit_transaction = stop_at_commit  # type: ignore[method-assign]
    plugin = embedded_plugin(lake)
    config = files_config(data, "*.parquet", "bronze.events", "append", partition_by=["region"])
    result = plugin.run(plugin.create_pipeline(config))
    sys.exit(0 if result.success else 1)


if __name__ == "__main__":
    main()
