"""The ``iceberg`` dlt destination: Iceberg tables committed through a PyIceberg catalog.

Built on dlt's ``filesystem`` destination with ``table_format="iceberg"`` (its public extension
points: a factory subclass and a ``FilesystemClient`` subclass), replacing the per-table Iceberg
load job with one that commits each table of a load package as exactly one snapshot.
"""

from floe_ingestion_dlt.destination.factory import iceberg

__all__ = ["iceberg"]
