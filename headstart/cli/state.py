"""Per-invocation state: the resolved connection settings, output mode and consoles.

Options shared by every command (``--url``, ``--api-key``, ``--admin-key``,
``--json``, ``--quiet``) may be given before or after the command name; either
way they land here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click
from rich.console import Console

from headstart.cli.config import resolve
from headstart.cli.exit_codes import ExitCode
from headstart.client import Client


class CLIError(click.ClickException):
    """An error to report and exit with ``exit_code`` (text, or JSON with ``--json``)."""

    def __init__(self, message: str, exit_code: int = ExitCode.ERROR, code: str = "error",
                 status: int | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.exit_code = int(exit_code)
        self.code = code
        self.status = status
        self.details = details or {}
        # Read now: click shows the error after the command's context is gone.
        ctx = click.get_current_context(silent=True)
        state = ctx.find_object(State) if ctx is not None else None
        self.json_output = bool(state and state.json_output)

    def show(self, file: Any = None) -> None:
        """Print to stderr: ``Error: ...`` or, with ``--json``, ``{"error": {...}}``."""
        if self.json_output:
            error = {"code": self.code, "message": self.message, "status": self.status,
                     "details": self.details, "exit_code": self.exit_code}
            click.echo(json.dumps({"error": error}), file=file, err=file is None)
        else:
            click.echo(f"Error: {self.message}", file=file, err=file is None)


@dataclass
class State:
    """What the shared options set; resolved lazily into a client."""

    url: str | None = None
    api_key: str | None = None
    admin_key: str | None = None
    json_output: bool = False
    quiet: bool = False
    _client: Client | None = field(default=None, repr=False)

    def settings(self) -> dict[str, str | None]:
        """url, api_key and admin_key from flags, environment, config file, defaults."""
        try:
            return resolve({"url": self.url, "api_key": self.api_key,
                            "admin_key": self.admin_key})
        except ValueError as exc:
            raise CLIError(str(exc), ExitCode.USAGE, "bad_config") from exc

    def client(self, need_key: bool = True) -> Client:
        """The API client (built once).

        Raises:
            CLIError: ``need_key`` and no API key is configured anywhere (exit 2).
        """
        if self._client is None:
            values = self.settings()
            if need_key and not values["api_key"]:
                raise CLIError("no API key: pass --api-key, set HEADSTART_API_KEY, or run "
                               "`headstart app create ID --save` / `headstart config set "
                               "api_key KEY`", ExitCode.USAGE, "no_api_key")
            self._client = Client(values["url"] or "", values["api_key"],
                                  admin_key=values["admin_key"])
        return self._client

    @property
    def out(self) -> Console:
        """Console for results (stdout); wide when not a terminal so tables stay whole."""
        return Console(width=None if sys.stdout.isatty() else 200, highlight=False,
                       soft_wrap=not sys.stdout.isatty())

    @property
    def err(self) -> Console:
        """Console for progress and notes (stderr)."""
        return Console(stderr=True, highlight=False)

    @property
    def show_progress(self) -> bool:
        """Progress bars only in human mode."""
        return not (self.json_output or self.quiet)

    def note(self, message: str) -> None:
        """A remark for humans on stderr (silent with ``--json`` or ``--quiet``)."""
        if self.show_progress:
            self.err.print(message)

    def emit(self, data: Any, render: Callable[[Console], None]) -> None:
        """Print ``data`` as JSON with ``--json``, else call ``render`` on the stdout console."""
        if self.json_output:
            click.echo(json.dumps(data, indent=2, default=str))
        else:
            render(self.out)


def _setter(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, _: click.Parameter, value: Any) -> Any:
        if value not in (None, False):
            setattr(ctx.ensure_object(State), name, value)
        return value
    return callback


def common_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the shared options to a command (they may also come before the command)."""
    options = [
        click.option("--url", metavar="URL", expose_value=False, callback=_setter("url"),
                     help="API root (env HEADSTART_URL; default http://127.0.0.1:8000)."),
        click.option("--api-key", metavar="KEY", expose_value=False,
                     callback=_setter("api_key"), help="App API key (env HEADSTART_API_KEY)."),
        click.option("--admin-key", metavar="KEY", expose_value=False,
                     callback=_setter("admin_key"),
                     help="Admin key, for `app create` (env HEADSTART_ADMIN_KEY)."),
        click.option("--json", "json_output", is_flag=True, expose_value=False,
                     callback=_setter("json_output"), help="Print machine-readable JSON."),
        click.option("-q", "--quiet", is_flag=True, expose_value=False,
                     callback=_setter("quiet"), help="No progress bars or notes."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


pass_state = click.make_pass_decorator(State, ensure=True)
