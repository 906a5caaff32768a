"""The quickstart, end to end: build the SQLite file, start the local API, run the YAML.

    python examples/quickstart.py [floe-ingest run options, e.g. --json]

1. builds ``.floe/quickstart/shop.db`` (in the working folder) from ``data/shop.sql``;
2. serves ``data/products.json`` as a paginated API on a free 127.0.0.1 port;
3. runs ``floe-ingest run examples/quickstart.yaml`` with ``QUICKSTART_DB_URL`` and
   ``QUICKSTART_API_URL`` pointing at them, into the embedded catalog ``.floe/``;
4. stops the API and exits with ``floe-ingest``'s exit code.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
sys.path.insert(0, str(EXAMPLES))

from quickstart_api import QuickstartApi  # noqa: E402
from quickstart_db import build_database  # noqa: E402

QUICKSTART_YAML = EXAMPLES / "quickstart.yaml"


def main(argv: list[str]) -> int:
    """Run the quickstart; ``argv`` goes to ``floe-ingest run``. Returns the exit code."""
    started = time.perf_counter()
    quiet = "--json" in argv
    if not quiet:
        print("quickstart: loading floe-ingest (dlt, PyIceberg) ...", file=sys.stderr)
    from floe_ingestion_dlt.cli import main as floe_ingest

    database = (Path.cwd() / ".floe" / "quickstart" / "shop.db").resolve()
    customers = build_database(database)
    with QuickstartApi() as api:
        os.environ["QUICKSTART_DB_URL"] = f"sqlite:///{database}"
        os.environ["QUICKSTART_API_URL"] = api.url
        if not quiet:
            print(
                f"quickstart: SQLite {database} ({customers} customers), "
                f"API {api.url}/products ({len(api.records)} products)",
                file=sys.stderr,
            )
        code = floe_ingest(["run", str(QUICKSTART_YAML), *argv])
    if code == 0 and not quiet:
        print(
            f"\nquickstart: done in {time.perf_counter() - started:.1f} s; tables in .floe/ "
            "(embedded catalog). The API above has stopped with the quickstart.\n"
            "Next: floe-ingest show                      # the tables and their row counts\n"
            "      floe-ingest show quickstart.orders    # schema, snapshots, first rows\n"
            "      (from a clone: .venv/bin/floe-ingest ...)\n"
            "Rerun: bash scripts/quickstart.sh, or by hand with the API started yourself:\n"
            "      .venv/bin/python examples/quickstart_api.py --port 8765 &\n"
            "      .venv/bin/floe-ingest run examples/quickstart.yaml",
            file=sys.stderr,
        )
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
