"""Table maintenance: compaction, snapshot expiry, orphan file removal."""
