"""The destination is the only source of truth for the incremental cursor.

Every commit of the load job carries the package's pipeline state (cursor included) in the
Iceberg snapshot summary of the same commit as its rows, and dlt writes the same state to its
state file after the commit (``complete_load``). So the state stored with the destination always
matches the committed rows, while dlt's *local* state can be ahead of them (extract advanced the
cursor, the package was then aborted or lost) or behind them (a package committed at extract
whose local state file was never written because the process died in between).

Before a run extracts anything, :func:`start_from_destination_state` therefore discards the local
working folder once no package is pending, and dlt restores state and schemas from the
destination, exactly as on a new Kubernetes pod (``FloeIcebergClient.get_stored_state`` takes
the newest of dlt's state file and the state in the table's snapshot summaries). Pending
packages are never discarded: they are loaded first (the load job skips a load id that is
already committed), after which the destination holds their state.
"""

from __future__ import annotations

from typing import Any

from floe_ingestion_dlt.logging import get_logger

__all__ = ["start_from_destination_state"]

_log = get_logger(__name__)


def start_from_destination_state(pipeline: Any) -> bool:
    """Make the next ``pipeline.run(data)`` start from the state stored with the destination.

    Drops the local working folder (state, schemas, finished packages) with dlt's public
    ``Pipeline.drop()``, which re-initialises the pipeline in place; ``run()`` then syncs
    state and schemas from the destination before extracting. Returns False, changing
    nothing, while a package is still pending or when the pipeline does not restore from its
    destination (``restore_from_destination=false``).
    """
    if pipeline.has_pending_data:
        return False
    if not getattr(pipeline.config, "restore_from_destination", True) or pipeline.dev_mode:
        return False
    pipeline.drop()
    _log.debug(
        "local pipeline state discarded; state comes from the destination",
        pipeline_name=pipeline.pipeline_name,
    )
    return True
