"""A no-op runnable job for each data file of an Iceberg table (saves dlt's 1-second poll).

dlt's filesystem client marks every data file of a table-format table with a
``FinalizedLoadJobWithFollowupJobs``: a job that is complete from birth and never runs. The
loader only wakes from its job-completion semaphore when a *running* job finishes, otherwise
after ``Load._run_loop_sleep_duration`` (1 s, hard-coded in dlt 1.31; a canary in
``tests/unit/compat/test_dlt_compat.py`` watches it, see ``compat.dlt``). So every load package
waited one idle second before the Iceberg follow-up job (the actual commit) was even created.

:class:`ReadyFileJob` is the same marker as a runnable job whose ``run`` does nothing: it
finishes at once in dlt's pool, releases the semaphore, and the loader creates the follow-up
job immediately. Follow-up creation itself is unchanged (the client builds the reference job
for the table chain once all its files are complete).
"""

from __future__ import annotations

from dlt.common.destination.client import HasFollowupJobs, RunnableLoadJob

__all__ = ["ReadyFileJob"]


class ReadyFileJob(RunnableLoadJob, HasFollowupJobs):
    """A data file of a table-format table: nothing to do until the table's follow-up job."""

    def run(self) -> None:
        """Nothing to upload: the Iceberg follow-up job reads the file where dlt left it."""
