"""``headstart jobs``: list jobs; show, wait for or cancel one."""

from __future__ import annotations

import click

from headstart.cli.progress import job_status
from headstart.cli.render import job_detail, jobs_table
from headstart.cli.state import State, common_options, pass_state
from headstart.client import JobFailed

STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"]
TYPES = ["embed", "train", "predict"]


@click.group(invoke_without_command=True)
@click.option("--status", type=click.Choice(STATUSES), help="Only jobs in this state.")
@click.option("--type", "job_type", type=click.Choice(TYPES), help="Only jobs of this type.")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@common_options
@click.pass_context
def jobs(ctx: click.Context, status: str | None, job_type: str | None, limit: int) -> None:
    """List the app's jobs, newest first (or: jobs show|wait|cancel JOB_ID)."""
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.ensure_object(State)
    page = state.client().jobs.list(status=status, type=job_type, limit=limit)
    state.emit({"jobs": [j.raw for j in page.items], "next_page_token": page.next_page_token},
               lambda console: jobs_table(console, page.items))


@jobs.command("show")
@click.argument("job_id")
@common_options
@pass_state
def jobs_show(state: State, job_id: str) -> None:
    """One job: status, progress, times, result or error."""
    job = state.client().jobs.get(job_id)
    state.emit(job.raw, lambda console: job_detail(console, job))


@jobs.command("wait")
@click.argument("job_id")
@click.option("--timeout", type=float, default=600.0, show_default=True)
@common_options
@pass_state
def jobs_wait(state: State, job_id: str, timeout: float) -> None:
    """Wait for a job to end (exit 5 if it fails, 6 on timeout)."""
    job = state.client().jobs.get(job_id)
    with job_status(state, f"{job.type} job {job.id[:12]}") as on_progress:
        job.wait(timeout=timeout, on_progress=on_progress, raise_on_failure=False)
    state.emit(job.raw, lambda console: job_detail(console, job))
    if not job.succeeded:
        raise JobFailed(job)


@jobs.command("cancel")
@click.argument("job_id")
@common_options
@pass_state
def jobs_cancel(state: State, job_id: str) -> None:
    """Cancel a job (exit 1 with job_finished if it already ended)."""
    job = state.client().jobs.cancel(job_id)
    state.emit(job.raw, lambda console: job_detail(console, job))
