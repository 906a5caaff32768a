"""What every source builder provides, and the context it is built in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic import ValidationError as PydanticValidationError

from floe_ingestion_dlt.pydantic_errors import first_message, validation_error
from floe_ingestion_dlt.vocabulary import MergeStrategy, WriteMode

if TYPE_CHECKING:
    from dlt.extract.resource import DltResource

    from floe_ingestion_dlt.layout import TableLayout
    from floe_ingestion_dlt.performance import DltSettings

__all__ = ["SourceBuilder", "SourceContext", "SourceOptions", "validation_error"]


@dataclass(frozen=True)
class SourceContext:
    """Where the built resource's rows go and how they are written."""

    source_type: str
    destination_table: str
    namespace: str
    table_name: str
    write_mode: WriteMode
    schema_contract: str
    pipeline_name: str

    def __post_init__(self) -> None:
        # a context built from strings (tests, callers) still carries the enum
        object.__setattr__(self, "write_mode", WriteMode(self.write_mode))


class SourceOptions(BaseModel):
    """Options every source type accepts in ``source_config`` besides its own."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    primary_key: str | list[str] | None = None
    merge_key: str | list[str] | None = None
    cursor_field: str | None = None
    initial_value: Any = None
    end_value: Any = None
    lag: float | None = None
    row_order: str | None = None
    merge_strategy: MergeStrategy | None = None
    hard_delete_column: str | None = None
    allow_empty_replace: bool = False
    """``write_mode: replace`` with 0 rows empties a table only when this is true; otherwise
    such a load is refused (a source that read nothing must not wipe the table)."""
    # the Iceberg table's layout (see ``floe_ingestion_dlt.layout``)
    partition_by: list[str] | None = None
    sort_order: list[str] | None = None
    target_file_size_mb: float | None = None
    table_properties: dict[str, str] | None = None
    maintenance: dict[str, Any] | None = None
    """Maintenance run after each successful load (``floe_ingestion_dlt.maintenance``)."""

    @field_validator(
        "partition_by", "sort_order", "target_file_size_mb", "table_properties", mode="before"
    )
    @classmethod
    def _layout_field(cls, value: Any, info: ValidationInfo) -> Any:
        """Each layout key validated by :class:`~floe_ingestion_dlt.layout.TableLayout`."""
        from floe_ingestion_dlt.layout import TableLayout

        if value is None:
            return None
        assert info.field_name is not None
        try:
            layout = TableLayout.model_validate({info.field_name: value})
        except PydanticValidationError as exc:
            raise ValueError(first_message(exc, named=False)) from None
        return getattr(layout, info.field_name)

    @field_validator("maintenance", mode="before")
    @classmethod
    def _maintenance_policy(cls, value: Any) -> Any:
        from floe_ingestion_dlt.maintenance.policy import MaintenancePolicy

        if value is None:
            return None
        try:
            policy = MaintenancePolicy.model_validate(value)
        except PydanticValidationError as exc:
            raise ValueError(first_message(exc)) from None
        return policy.model_dump(exclude_none=True)

    def table_layout(self) -> TableLayout | None:
        """The declared layout of the destination table, ``None`` when nothing is declared."""
        from floe_ingestion_dlt.layout import TableLayout

        layout = TableLayout(
            partition_by=self.partition_by,
            sort_order=self.sort_order,
            target_file_size_mb=self.target_file_size_mb,
            table_properties=self.table_properties,
        )
        return None if layout.is_empty else layout


class SourceBuilder:
    """Base of the per-type builders: parse ``source_config``, check packages, build a resource.

    Subclasses set ``source_type``, ``config_model`` and ``required_modules`` and implement
    :meth:`build`. They may override :meth:`check_reachable`.
    """

    source_type: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]
    required_modules: ClassVar[tuple[tuple[str, str], ...]] = (("dlt", "floe-ingestion-dlt"),)
    """``(module to import, pip requirement that provides it)`` pairs."""

    def parse(self, source_config: dict[str, Any]) -> BaseModel:
        """Validate ``source_config``; raises :class:`ValidationError` naming the field."""
        try:
            return self.config_model.model_validate(source_config)
        except PydanticValidationError as exc:
            raise validation_error(exc, prefix="source_config") from None

    def missing_packages(self, config: BaseModel | None = None) -> list[tuple[str, str]]:
        """The ``(module, pip requirement)`` pairs that do not import."""
        import importlib.util

        missing = []
        for module, requirement in self.modules_for(config):
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                missing.append((module, requirement))
        return missing

    def install_hint(self, config: BaseModel | None = None) -> str | None:
        """``needs <modules>: pip install '<requirement>' ...`` when packages are missing.

        Example: ``needs s3fs: pip install 'floe-ingestion-dlt[s3]'``; None when all import.
        """
        missing = self.missing_packages(config)
        if not missing:
            return None
        modules = ", ".join(module for module, _ in missing)
        requirements = " ".join(f"'{r}'" for r in sorted({req for _, req in missing}))
        return f"needs {modules}: pip install {requirements}"

    def modules_for(self, config: BaseModel | None) -> tuple[tuple[str, str], ...]:
        """Modules needed for this particular configuration (e.g. the SQL driver)."""
        return self.required_modules

    def check_reachable(self, config: BaseModel, timeout: float) -> None:
        """Raise :class:`SourceConnectionError` when the source cannot be reached."""

    def check_before_run(self, config: BaseModel) -> None:
        """Raise :class:`SourceConnectionError` when the source cannot be read now.

        Called at the start of every run (the source may have gone since ``create_pipeline``),
        before anything is extracted: a source that cannot be read must fail the run rather
        than yield 0 rows.
        """

    def dlt_settings(self, config: BaseModel, context: SourceContext) -> DltSettings:
        """The dlt settings this load runs with (workers, buffers; see ``performance.py``)."""
        from floe_ingestion_dlt.performance import settings_for, yields_python_rows

        return settings_for(yields_python_rows(context.source_type, config))

    def build(self, config: BaseModel, context: SourceContext) -> DltResource:
        raise NotImplementedError
