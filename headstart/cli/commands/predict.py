"""``headstart predict``: concepts for files, URLs and texts."""

from __future__ import annotations

import os
from pathlib import Path

import click

from headstart.cli.exit_codes import ExitCode
from headstart.cli.files import scan_folder
from headstart.cli.render import prediction_table
from headstart.cli.state import CLIError, State, common_options, pass_state
from headstart.client import NewInput
from headstart.client.sources import File, Text, guess_source


def expand(items: tuple[str, ...]) -> tuple[list[str], list[NewInput]]:
    """Arguments as inputs: folders become their files, paths files, URLs URLs, else texts.

    Returns:
        A label per input (what to show for it) and the inputs, in order.
    """
    labels: list[str] = []
    inputs: list[NewInput] = []
    for item in items:
        if os.path.isdir(item):
            for found in scan_folder(Path(item), None).inputs:
                labels.append(str(found.source.path) if isinstance(found.source, File) else item)
                inputs.append(NewInput(found.source))
            continue
        source = guess_source(item)
        if isinstance(source, File):
            try:
                source.kind()
            except ValueError as exc:
                raise CLIError(str(exc), ExitCode.USAGE, "unknown_file_type") from exc
        labels.append(item if not isinstance(source, Text) or len(item) <= 60
                      else item[:57] + "...")
        inputs.append(NewInput(source))
    return labels, inputs


@click.command()
@click.argument("model_id")
@click.argument("items", nargs=-1, required=True)
@click.option("--version", "version_id", metavar="V", help="A trained version (default: the "
              "model's default).")
@click.option("--min-value", type=click.FloatRange(0, 1), help="Drop concepts scoring lower.")
@click.option("--max-concepts", type=click.IntRange(1), help="Keep the top N per input.")
@click.option("--top", type=click.IntRange(1), default=3, show_default=True,
              help="Concepts shown per input in the table.")
@click.option("--sample-ms", type=click.IntRange(100, 60000), help="Frame gap for videos.")
@click.option("--timeout", type=float, default=600.0, show_default=True,
              help="Seconds to wait when the API answers with a job.")
@common_options
@pass_state
def predict(state: State, model_id: str, items: tuple[str, ...], version_id: str | None,
            min_value: float | None, max_concepts: int | None, top: int,
            sample_ms: int | None, timeout: float) -> None:
    """Predict concepts for each ITEM: an existing file or folder, an http(s) URL, else a text.

    Many items are sent in batches of the API's size; output order is argument order.
    """
    labels, inputs = expand(items)
    if not inputs:
        raise CLIError("nothing to predict (the folders hold no usable file)", ExitCode.USAGE,
                       "no_inputs")
    prediction = state.client().predict(model_id, inputs, version=version_id,
                                        min_value=min_value, max_concepts=max_concepts,
                                        sample_ms=sample_ms, timeout=timeout)
    data = {"model_version": prediction.model_version,
            "outputs": [{"source": label, **output.raw}
                        for label, output in zip(labels, prediction.outputs)]}
    state.emit(data, lambda console: prediction_table(console, labels, prediction, top))

