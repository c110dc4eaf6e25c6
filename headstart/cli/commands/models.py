"""``headstart versions``, ``eval``, ``models`` and ``concepts``."""

from __future__ import annotations

import click
from rich.table import Table

from headstart.cli.exit_codes import ExitCode
from headstart.cli.render import evaluation, versions_table, when
from headstart.cli.state import CLIError, State, common_options, pass_state


@click.command()
@click.argument("model_id")
@common_options
@pass_state
def versions(state: State, model_id: str) -> None:
    """MODEL_ID's versions, newest first, with their cross-validated metrics."""
    client = state.client()
    model = client.models.get(model_id)
    found = client.versions.list(model_id)
    state.emit({"model": model.raw, "versions": [v.raw for v in found]},
               lambda console: versions_table(console, model, found))


@click.command("eval")
@click.argument("model_id")
@click.option("--version", "version_id", metavar="V",
              help="This version instead of the default one.")
@common_options
@pass_state
def eval_(state: State, model_id: str, version_id: str | None) -> None:
    """Per-concept metrics and the confusion matrix of MODEL_ID's default version.

    The metrics come from k-fold cross-validation when the version was trained.
    """
    client = state.client()
    model = client.models.get(model_id)
    version_id = version_id or model.default_version
    if version_id is None:
        raise CLIError(f"model {model_id!r} has no trained version yet (headstart train "
                       f"{model_id} --wait)", ExitCode.ERROR, "no_trained_version", 409)
    version = client.versions.get(model_id, version_id)
    state.emit({"model": model.raw, "version": version.raw},
               lambda console: evaluation(console, model, version))


@click.command()
@common_options
@pass_state
def models(state: State) -> None:
    """The app's models."""
    found = state.client().models.list()

    def render(console) -> None:
        table = Table(title="models", title_justify="left")
        for name in ("id", "concepts", "embedder", "exclusive", "default version", "created"):
            table.add_column(name)
        for m in found:
            table.add_row(m.id, ", ".join(m.concepts), m.embedder or "",
                          "yes" if m.options.get("mutually_exclusive") else "no",
                          m.default_version or "-", when(m.created_at))
        console.print(table)

    state.emit({"models": [m.raw for m in found]}, render)


@click.command()
@common_options
@pass_state
def concepts(state: State) -> None:
    """The app's concepts."""
    found = state.client().concepts.list()

    def render(console) -> None:
        table = Table(title="concepts", title_justify="left")
        table.add_column("id")
        table.add_column("name")
        table.add_column("created")
        for c in found:
            table.add_row(c.id, c.name or "", when(c.created_at))
        console.print(table)

    state.emit({"concepts": [c.raw for c in found]}, render)

