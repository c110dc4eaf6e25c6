"""``headstart``: the command line for a Headstart API.

Every command takes ``--url``, ``--api-key``, ``--json`` and ``--quiet`` (before or
after its name). See ``headstart --help`` and docs/cli.md.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from headstart import __version__
from headstart.cli.exit_codes import HELP as EXIT_HELP
from headstart.cli.exit_codes import ExitCode, exit_code_for
from headstart.cli.state import CLIError, State, common_options
from headstart.client.errors import APIError, HeadstartError


class HeadstartGroup(click.Group):
    """The root group: turns client errors into messages and meaningful exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HeadstartError as exc:
            details = dict(exc.details)
            job = getattr(exc, "job", None)
            if job is not None:
                details.setdefault("job_id", job.id)
                details.setdefault("job_status", job.status)
            message = exc.message
            if isinstance(exc, APIError):
                message = f"{exc.message} ({exc.status} {exc.code})"
            elif job is not None:
                message = f"{exc.message} (job {job.id} {job.status}, {exc.code})"
            raise CLIError(message, exit_code_for(exc), exc.code, exc.status, details) from exc


@click.group(cls=HeadstartGroup, epilog=EXIT_HELP,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="headstart")
@common_options
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Headstart: add labelled texts, images and videos, train models in seconds, predict.

    Settings come from flags, else the environment (HEADSTART_URL, HEADSTART_API_KEY,
    HEADSTART_ADMIN_KEY), else ~/.config/headstart/config.toml (see `headstart config`).
    """
    ctx.ensure_object(State)


def _register() -> None:
    from headstart.cli.commands import apps, data, jobs, models, predict, setup, train

    for command in (setup.up, setup.config, apps.app, data.add, data.import_, train.train,
                    predict.predict, jobs.jobs, models.versions, models.eval_,
                    models.models, models.concepts):
        cli.add_command(command)


_register()


def main(argv: list[str] | None = None) -> int:
    """Console entry point (``headstart = "headstart.cli:main"``)."""
    try:
        cli.main(args=argv, prog_name="headstart", standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else ExitCode.ERROR
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
