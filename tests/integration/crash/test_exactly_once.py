"""Exactly-once under SIGKILL: 20 kills across extract, normalize, the Iceberg commit and
dlt's completion, each followed by a rerun that must leave every source row in the table once.

Two lanes run side by side (two subprocesses at a time at most), each its own pipeline over a
SQLite table that grows before every scenario:

* ``same_pod``: reruns find the pipelines folder of the killed run (pending packages resume);
* ``new_pod``: the pipelines folder is deleted before every rerun (state comes only from the
  destination: dlt's state file or the Iceberg snapshot summary).

After every rerun the table is read back through a fresh PyIceberg catalog: it must equal the
source (no row lost, none twice) and the cursor the destination hands to the next run must be
the highest committed id. A second test does the same for replace and merge tables.
"""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.crash.lane import ChildRun, Lane
from tests.services.seaweedfs import SeaweedFS

pytestmark = pytest.mark.integration

RANDOM = "random"

SAME_POD: list[tuple[str, ...]] = [
    ("extract_items:2",),  # first run ever: mid-extract, no table yet
    ("extract_commit_after:1",),  # package committed, local state file not written
    ("normalize_commit_after:1",),  # normalized package moved, extracted copy still there
    ("iceberg_commit_before:1",),
    ("iceberg_metadata_written:1",),  # during the commit: metadata written, catalog not switched
    ("iceberg_commit_after:1",),  # committed, dlt does not know it yet
    ("store_load_before:1",),  # dlt's state file written, load record not
    ("complete_load_after:1",),
    ("iceberg_commit_after:1", "complete_load_before:1"),  # killed again while resuming
    (RANDOM,),
]
NEW_POD: list[tuple[str, ...]] = [
    ("iceberg_commit_after:1",),  # first run ever: table created, no dlt state file anywhere
    ("extract_end:1",),  # local state advanced, package never loaded, pod lost
    ("normalize_start:1",),
    ("normalize_end:1",),
    ("load_start:1",),
    ("iceberg_metadata_written:1",),
    ("iceberg_commit_after:1",),  # committed, no dlt state file: the snapshot summary has it
    ("complete_load_before:1",),
    (RANDOM,),
]


@dataclass
class Outcome:
    """What one scenario did and what the table looked like afterwards."""

    lane: str
    kills: list[str] = field(default_factory=list)
    killed: list[bool] = field(default_factory=list)
    final: ChildRun | None = None
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        status = "ok" if not self.problems else "FAILED: " + "; ".join(self.problems)
        seconds = f"{self.final.seconds:.1f}s" if self.final else "-"
        kills = ", ".join(
            f"{k}{'' if hit else ' (not reached)'}"
            for k, hit in zip(self.kills, self.killed, strict=True)
        )
        return f"{self.lane:9} {kills:60} rerun {seconds:>6}  {status}"


def _kill_run(lane: Lane, spec: str, rng: random.Random, outcome: Outcome) -> None:
    if spec != RANDOM:
        child = lane.run(spec)
        outcome.kills.append(spec)
        outcome.killed.append(child.killed)
        if not child.killed:
            outcome.problems.append(f"{spec} was never reached (rc={child.returncode})")
        return
    # a random moment of the run: a fraction of the last complete run's time, shorter if late
    previous = [r.result["seconds"] for r in lane.runs if r.result and "seconds" in r.result]
    window = previous[-1] if previous else 1.0
    for attempt in range(4):
        delay = round(rng.uniform(0.05, 0.9) * window / (2**attempt), 3)
        child = lane.run(f"random:{delay}")
        if child.killed:
            outcome.kills.append(f"random:{delay}s")
            outcome.killed.append(True)
            return
    outcome.kills.append("random")
    outcome.killed.append(False)
    outcome.problems.append("no random kill landed inside the run")


def _check(lane: Lane, outcome: Outcome) -> None:
    final = outcome.final
    assert final is not None
    if not (final.result and final.result["success"]):
        outcome.problems.append(f"rerun failed rc={final.returncode}: {final.output_tail}")
        return
    source = lane.source_rows()
    rows = lane.table_rows()
    ids = [r["id"] for r in rows]
    if len(ids) != len(set(ids)):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        outcome.problems.append(f"duplicated ids {dupes[:10]}")
    missing = sorted({r["id"] for r in source} - set(ids))
    if missing:
        outcome.problems.append(f"lost ids {missing[:10]}")
    if not outcome.problems and rows != source:
        outcome.problems.append("table rows differ from the source rows")
    if lane.cursor:
        cursor = lane.destination_cursor()
        if cursor != max(ids, default=None):
            outcome.problems.append(f"cursor {cursor} but highest committed id {max(ids)}")


def play_lane(lane: Lane, scenarios: list[tuple[str, ...]], seed: int) -> list[Outcome]:
    """Grow the source, kill at each point of the scenario, rerun, check; scenario by scenario."""
    rng = random.Random(seed)
    outcomes = []
    for number, kills in enumerate(scenarios):
        lane.add_rows(9)
        if lane.write_mode != "append" and number:
            lane.update_rows(list(range(1 + number, lane.next_id, 5)))
        outcome = Outcome(lane.name)
        for spec in kills:
            _kill_run(lane, spec, rng, outcome)
            if lane.new_pod:
                lane.lose_pod()
        outcome.final = lane.run()
        _check(lane, outcome)
        outcomes.append(outcome)
    return outcomes


def _play(lanes: list[tuple[Lane, list[tuple[str, ...]]]]) -> list[Outcome]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(play_lane, lane, scenarios, seed)
            for seed, (lane, scenarios) in enumerate(lanes)
        ]
        return [o for f in futures for o in f.result()]


def _report(outcomes: list[Outcome]) -> str:
    kills = sum(sum(o.killed) for o in outcomes)
    good = sum(1 for o in outcomes if not o.problems)
    lines = [o.line() for o in outcomes]
    lines.append(f"{kills} kills, {good}/{len(outcomes)} scenarios exact")
    return "\n".join(lines)


def test_twenty_kills_each_end_with_the_exact_source_rows(tmp_path: Path) -> None:
    outcomes = _play(
        [
            (Lane(tmp_path / "same", "orders_same_pod"), SAME_POD),
            (Lane(tmp_path / "new", "orders_new_pod", new_pod=True), NEW_POD),
        ]
    )
    report = _report(outcomes)
    print("\n" + report)
    kills = sum(sum(o.killed) for o in outcomes)
    assert kills == 20, report
    assert all(not o.problems for o in outcomes), report


REPLACE_MERGE: list[tuple[str, ...]] = [
    ("iceberg_commit_after:1",),  # the overwrite landed: a resumed package must not redo it
    ("complete_load_before:1",),
]


@pytest.mark.parametrize("new_pod", [False, True], ids=["same_pod", "new_pod"])
def test_replace_and_merge_after_a_kill(tmp_path: Path, new_pod: bool) -> None:
    """Replace and merge tables read whole sources: after a kill and a rerun the table equals
    the source (updated rows once, with their new values)."""
    pod = "new_pod" if new_pod else "same_pod"
    outcomes = _play(
        [
            (
                Lane(tmp_path / "r", f"orders_replace_{pod}", "replace", new_pod, False),
                REPLACE_MERGE,
            ),
            (Lane(tmp_path / "m", f"orders_merge_{pod}", "merge", new_pod, False), REPLACE_MERGE),
        ]
    )
    report = _report(outcomes)
    print("\n" + report)
    assert all(all(o.killed) for o in outcomes), report
    assert all(not o.problems for o in outcomes), report


REST_CATALOG: list[tuple[str, ...]] = [
    ("iceberg_commit_after:1",),  # first run: table created through the REST catalog, no state file
    ("store_load_before:1",),
    ("iceberg_commit_after:1",),
]


def test_rest_catalog_new_pod_after_kills(tmp_path: Path, seaweedfs: SeaweedFS) -> None:
    """The same on the Iceberg REST catalog with S3 (SeaweedFS), every rerun on a new pod."""
    suffix = uuid.uuid4().hex[:8]
    bucket = f"crash-state-{suffix}"
    seaweedfs.create_bucket(bucket)
    lane = Lane(
        tmp_path / "rest",
        "orders_rest",
        new_pod=True,
        catalog_properties=seaweedfs.catalog_properties(),
        state_url=f"s3://{bucket}/dlt",
        namespace=f"crash_{suffix}",
    )
    outcomes = _play([(lane, REST_CATALOG)])
    report = _report(outcomes)
    print("\n" + report)
    assert all(all(o.killed) for o in outcomes), report
    assert all(not o.problems for o in outcomes), report
