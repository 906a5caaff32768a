"""Integration tests against real local services."""
