"""Progress bars on stderr for uploads and job waits (off with ``--json``/``--quiet``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from headstart.cli.state import State
from headstart.client import Job


@contextmanager
def counter(state: State, description: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """A bar advanced by calling the yielded ``update(done, total)``."""
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                        MofNCompleteColumn(), TimeElapsedColumn(), console=state.err,
                        disable=not state.show_progress, transient=False)
    with progress:
        task = progress.add_task(description, total=total or None)

        def update(done: int, all_: int) -> None:
            progress.update(task, completed=done, total=all_ or None)

        yield update


@contextmanager
def job_status(state: State, description: str) -> Iterator[Callable[[Job], None]]:
    """A bar for one job: its progress and status, via the yielded ``on_progress(job)``."""
    progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                        TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                        console=state.err, disable=not state.show_progress, transient=False)
    with progress:
        task = progress.add_task(description, total=None, status="queued")

        def on_progress(job: Job) -> None:
            total = job.progress.total or None
            done = job.progress.done
            if job.done and total:
                done = total  # train jobs never move `done`; show a full bar at the end
            progress.update(task, completed=done, total=total, status=job.status)

        yield on_progress
