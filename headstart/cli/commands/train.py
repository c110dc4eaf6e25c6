"""``headstart train``: create the model if needed, train a version, optionally wait."""

from __future__ import annotations

import click

from headstart.cli.exit_codes import ExitCode
from headstart.cli.progress import job_status
from headstart.cli.render import evaluation
from headstart.cli.state import CLIError, State, common_options, pass_state
from headstart.client import Client, JobFailed, Model, NotFound


def _concept_list(value: str | None) -> list[str]:
    return [c.strip() for c in (value or "").split(",") if c.strip()]


def _embedder_of(client: Client, concepts: list[str]) -> str | None:
    """The embedder of the app's inputs labelled with these concepts, if any has one.

    Lets `train photos --concepts cat,dog` make an image model without being told:
    a model trains on its embedder's inputs only.
    """
    for concept in concepts:
        page = client.inputs.list(concept=concept, limit=1)
        if page.items and page.items[0].embedder:
            return page.items[0].embedder
    return None


def ensure_model(state: State, model_id: str, concepts: list[str], modality: str | None,
                 embedder: str | None, exclusive: bool | None) -> tuple[Model, bool]:
    """The model, created when it does not exist yet; whether it was created."""
    client = state.client()
    try:
        model = client.models.get(model_id)
    except NotFound:
        if not concepts:
            raise CLIError(f"model {model_id!r} does not exist; give --concepts a,b to create "
                           "it", ExitCode.USAGE, "no_concepts") from None
        if modality is None and embedder is None:
            embedder = _embedder_of(client, concepts)
        model = client.models.create(model_id, concepts, modality=modality, embedder=embedder,
                                     mutually_exclusive=exclusive)
        return model, True
    if concepts and concepts != model.concepts:
        raise CLIError(f"model {model_id!r} exists with concepts {','.join(model.concepts)}; "
                       "leave out --concepts, or use another model id", ExitCode.USAGE,
                       "concepts_differ")
    return model, False


@click.command()
@click.argument("model_id")
@click.option("--concepts", metavar="A,B", help="Concepts of a new model (comma-separated).")
@click.option("--exclusive/--multi-label", default=None,
              help="New model: one softmax (each input is exactly one concept) or one sigmoid "
                   "per concept (the API's default).")
@click.option("--modality", type=click.Choice(["text", "image", "video"]),
              help="New model: use the app's embedder of this modality (default: that of "
                   "the inputs labelled with the concepts, else text).")
@click.option("--embedder", metavar="ID", help="New model: this embedder instead.")
@click.option("--description", help="Stored on the version.")
@click.option("--wait", is_flag=True, help="Wait for training (progress bar), print metrics.")
@click.option("--timeout", type=float, default=600.0, show_default=True,
              help="Seconds to wait with --wait (exit 6 when over).")
@common_options
@pass_state
def train(state: State, model_id: str, concepts: str | None, exclusive: bool | None,
          modality: str | None, embedder: str | None, description: str | None, wait: bool,
          timeout: float) -> None:
    """Train a new version of MODEL_ID (created from --concepts if it does not exist).

    Exits 5 when training fails (the error code says why, e.g. no_data) and 6 when
    --wait runs out of time.
    """
    client = state.client()
    model, created = ensure_model(state, model_id, _concept_list(concepts), modality, embedder,
                                  exclusive)
    if created:
        state.note(f"created model {model.id} ({', '.join(model.concepts)}; "
                   f"embedder {model.embedder})")
    version, job = client.versions.create(model.id, description=description)
    if not wait:
        state.emit({"model": model.raw, "version": version.raw, "job": job.raw},
                   lambda console: console.print(
                       f"training {model.id} version {version.id}: job {job.id} ({job.status})"))
        return
    with job_status(state, f"training {model.id} v{version.id}") as on_progress:
        job.wait(timeout=timeout, on_progress=on_progress, raise_on_failure=False)
    version = client.versions.get(model.id, version.id)
    model = client.models.get(model.id)
    state.emit({"model": model.raw, "version": version.raw, "job": job.raw},
               lambda console: evaluation(console, model, version))
    if not job.succeeded:
        raise JobFailed(job)
    if version.status != "trained":
        raise CLIError(f"version {version.id} is {version.status}", ExitCode.JOB_FAILED,
                       "version_failed")
