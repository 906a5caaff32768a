"""Test suite for floe_ingestion_dlt."""
