"""Real local services (PostgreSQL, HTTP JSON API, SeaweedFS) for integration tests."""
