"""``headstart add`` (folders of files) and ``headstart import`` (CSV/JSONL of texts)."""

from __future__ import annotations

from pathlib import Path

import click

from headstart.cli.exit_codes import ExitCode
from headstart.cli.files import read_table, scan_folder
from headstart.cli.progress import counter
from headstart.cli.state import CLIError, State, common_options, pass_state
from headstart.client import NewInput, Text, Upload


def _upload(state: State, items: list[NewInput], wait: bool, timeout: float,
            batch_size: int | None) -> Upload:
    client = state.client()
    if batch_size is not None:
        client.inputs.max_batch_inputs = batch_size
    with counter(state, "uploading", len(items)) as update:
        upload = client.inputs.add(items, on_progress=update)
    if wait:
        with counter(state, "embedding", len(items)) as update:
            upload.wait(timeout=timeout, on_progress=update)
    return upload


def _summary(upload: Upload, extra: dict) -> dict:
    return {"inputs": len(upload.inputs), "requests": upload.requests,
            "jobs": [{"id": j.id, "status": j.status, "result": j.result} for j in upload.jobs],
            "ids": upload.ids, **extra}


wait_option = click.option("--wait", is_flag=True,
                           help="Wait until every input is embedded (progress bar).")
timeout_option = click.option("--timeout", type=float, default=600.0, show_default=True,
                              help="Seconds to wait with --wait (exit 6 when over).")
batch_option = click.option("--batch-size", type=click.IntRange(1, 10_000), default=None,
                            help="Inputs per request (default: the API's cap, 128).")


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--concept", "-c", metavar="NAME",
              help="Label every file NAME; without it, subfolder names are the concepts.")
@wait_option
@timeout_option
@batch_option
@common_options
@pass_state
def add(state: State, folder: Path, concept: str | None, wait: bool, timeout: float,
        batch_size: int | None) -> None:
    """Upload the images, videos and .txt files under FOLDER as labelled inputs.

    FOLDER/cat/*.jpg and FOLDER/dog/*.jpg add cats and dogs; with --concept NAME every
    file is NAME. Input ids are the files' paths relative to FOLDER, so adding the same
    folder again replaces those inputs instead of duplicating them.
    """
    scan = scan_folder(folder, concept)
    if not scan.inputs:
        raise CLIError(f"{folder}: no image, video or .txt file found", ExitCode.USAGE,
                       "no_files")
    unlabelled = sum(1 for item in scan.inputs if not item.concepts)
    if unlabelled and concept is None:
        state.note(f"{unlabelled} file(s) directly in {folder} are added unlabelled")
    if scan.skipped:
        state.note(f"skipped {len(scan.skipped)} file(s) that are not images, videos or .txt")
    upload = _upload(state, scan.inputs, wait, timeout, batch_size)
    data = _summary(upload, {"concepts": scan.per_concept, "unlabelled": unlabelled,
                             "skipped": [str(p) for p in scan.skipped]})

    def render(console) -> None:
        counts = ", ".join(f"{c}: {n}" for c, n in sorted(scan.per_concept.items())) or "none"
        console.print(f"added {len(upload.inputs)} inputs in {upload.requests} request(s) "
                      f"(concepts {counts}; unlabelled {unlabelled})")
        console.print("embed jobs: " + ", ".join(f"{j.id} {j.status}" for j in upload.jobs))

    state.emit(data, render)


@click.command("import")
@click.argument("table", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--text-column", default="text", show_default=True)
@click.option("--label-column", default="label", show_default=True,
              help="Concept of each text; several as a|b; empty for unlabelled.")
@click.option("--id-column", default="id", show_default=True,
              help="Input ids; rows without one get <file stem>-<row number>.")
@wait_option
@timeout_option
@batch_option
@common_options
@pass_state
def import_(state: State, table: Path, text_column: str, label_column: str, id_column: str,
            wait: bool, timeout: float, batch_size: int | None) -> None:
    """Add the texts of a CSV, TSV or JSONL file (columns text,label[,id]) as inputs."""
    try:
        rows = read_table(table, text_column, label_column, id_column)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CLIError(str(exc), ExitCode.USAGE, "bad_table") from exc
    if not rows:
        raise CLIError(f"{table}: no rows", ExitCode.USAGE, "no_rows")
    items = [NewInput(Text(row.text), concepts=row.labels, id=row.id) for row in rows]
    per_concept: dict[str, int] = {}
    for row in rows:
        for label in row.labels:
            per_concept[label] = per_concept.get(label, 0) + 1
    upload = _upload(state, items, wait, timeout, batch_size)
    data = _summary(upload, {"concepts": per_concept})

    def render(console) -> None:
        counts = ", ".join(f"{c}: {n}" for c, n in sorted(per_concept.items())) or "none"
        console.print(f"imported {len(upload.inputs)} texts in {upload.requests} request(s) "
                      f"(concepts {counts})")

    state.emit(data, render)
