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

:func:`finish_interrupted_normalize` completes the one step of dlt's normalize that is not
atomic: a process killed between moving the normalized package into the load folder and
deleting its extracted copy leaves the package in both places, and dlt's next normalize fails
on the existing folder ("Directory not empty") for every later run.
"""

from __future__ import annotations

from typing import Any

from floe_ingestion_dlt.compat.dlt import (
    delete_extracted_packages,
    pipeline_synced_with_destination,
)
from floe_ingestion_dlt.logging import get_logger

__all__ = ["finish_interrupted_normalize", "start_from_destination_state"]

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
    if _nothing_to_drop(pipeline):
        return True
    pipeline.drop()
    _log.debug(
        "local pipeline state discarded; state comes from the destination",
        pipeline_name=pipeline.pipeline_name,
    )
    return True


def _nothing_to_drop(pipeline: Any) -> bool:
    """True when the working folder is already what ``drop()`` would leave: a new pipeline.

    That is a pipeline dlt has just created (no state file was found, ``first_run``) that has
    not synced with the destination yet, holds no schema, no package and no source state.
    ``drop()`` would only re-create the same empty folder and re-initialise the instance (about
    15 ms, a third of the plugin's own work per run); ``run()`` restores from the destination
    either way. Anything else (an earlier run's state, a synced instance) is dropped.
    """
    return bool(
        pipeline.first_run
        and not pipeline.has_data
        and not pipeline_synced_with_destination(pipeline)
        and not pipeline.state.get("sources")
    )


def finish_interrupted_normalize(pipeline: Any) -> list[str]:
    """Delete the extracted copy of any package that normalize already moved to the load folder.

    The move (a folder rename) is atomic, so a package found in the load folder is complete;
    the extracted copy is what dlt deletes right after the move. Returns the load ids cleaned.
    """
    extracted = set(pipeline.list_extracted_load_packages())
    if not extracted:
        return []
    done = sorted(extracted & set(pipeline.list_normalized_load_packages()))
    if done:
        delete_extracted_packages(pipeline, done)
        _log.warning(
            "finished an interrupted normalize: extracted copies of normalized packages deleted",
            pipeline_name=pipeline.pipeline_name,
            load_ids=done,
        )
    return done
