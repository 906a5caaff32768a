"""A source's ``maintenance:`` policy, run after each successful load of its table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from floe_ingestion_dlt.logging import get_logger

if TYPE_CHECKING:
    from floe_ingestion_dlt.maintenance import MaintenanceReport
    from floe_ingestion_dlt.pipeline import PipelinePlan

__all__ = ["maintain_after_load"]

_log = get_logger(__name__)


def maintain_after_load(plan: PipelinePlan) -> MaintenanceReport | None:
    """Run the source's policy on its table; ``None`` when it declares none.

    The load is committed already: a maintenance failure is logged as a warning and does not
    turn the run into a failure (the next run tries again).
    """
    declared: dict[str, Any] | None = getattr(plan.source_config, "maintenance", None)
    if not declared:
        return None
    from floe_ingestion_dlt.catalog import load_catalog
    from floe_ingestion_dlt.maintenance import MaintenancePolicy, maintain_table

    table = plan.context.destination_table
    try:
        report = maintain_table(
            load_catalog(plan.catalog), table, MaintenancePolicy.model_validate(declared)
        )
    except Exception as exc:
        _log.warning("maintenance after the load failed", destination_table=table, error=str(exc))
        return None
    _log.info("maintenance after the load", destination_table=table, **report.as_dict())
    return report
