"""The footer of ``floe-ingest run``: rows committed, by write mode."""

from __future__ import annotations

from floe_ingestion_dlt.cli.run_command import SourceRun, committed_rows_text


def _run(name: str, mode: str, rows: int, committed: bool = True) -> SourceRun:
    return SourceRun(
        name=name,
        source_type="filesystem",
        destination_table=f"q.{name}",
        write_mode=mode,
        status="success",
        rows_loaded=rows,
        snapshot_ids=[1] if committed else [],
    )


def test_first_run_counts_new_rows_per_write_mode() -> None:
    text = committed_rows_text(
        [_run("orders", "append", 300), _run("customers", "merge", 200), _run("p", "replace", 120)]
    )
    assert text == (
        "300 new rows appended to 1 table; 200 rows merged into 1 table (inserted or updated); "
        "120 rows replaced the content of 1 table"
    )


def test_rerun_with_nothing_new_does_not_read_as_new_rows() -> None:
    text = committed_rows_text(
        [
            _run("orders", "append", 0, committed=False),
            _run("customers", "merge", 200),
            _run("products", "replace", 120),
        ]
    )
    assert "new rows" not in text
    assert text.endswith("; no new data: orders")


def test_several_tables_of_one_mode_are_summed() -> None:
    text = committed_rows_text([_run("a", "append", 1_000), _run("b", "append", 2_500)])
    assert text == "3,500 new rows appended to 2 tables"


def test_nothing_committed() -> None:
    assert committed_rows_text([]) == "nothing committed"
