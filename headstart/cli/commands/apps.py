"""``headstart app``: create an app (admin key) and show the current one."""

from __future__ import annotations

import click

from headstart.cli.config import write_config
from headstart.cli.exit_codes import ExitCode
from headstart.cli.state import CLIError, State, common_options, pass_state


@click.group()
def app() -> None:
    """Create an app (tenant) or show the current key's app."""


@app.command("create")
@click.argument("app_id")
@click.option("--text-embedder", metavar="ID", help="Embedder of the app's texts.")
@click.option("--image-embedder", metavar="ID", help="Embedder of its images and videos.")
@click.option("--save", is_flag=True,
              help="Save the URL and the new API key in the config file (mode 0600).")
@common_options
@pass_state
def app_create(state: State, app_id: str, text_embedder: str | None,
               image_embedder: str | None, save: bool) -> None:
    """Create app APP_ID with the admin key; prints its API key (shown only once)."""
    client = state.client(need_key=False)
    if not client.transport.admin_key:
        raise CLIError("no admin key: pass --admin-key, set HEADSTART_ADMIN_KEY, or run from "
                       "the folder whose .env holds it", ExitCode.USAGE, "no_admin_key")
    embedders = {k: v for k, v in (("text", text_embedder), ("image", image_embedder)) if v}
    created = client.apps.create(app_id, embedders or None)
    saved = None
    if save:
        saved = str(write_config({"url": client.url, "api_key": created.api_key}))
    data = {**created.raw, "saved_to": saved}

    def render(console) -> None:
        console.print(f"created app [bold]{created.app.id}[/bold] "
                      f"(embedders: {created.app.default_embedders})")
        console.print(f"API key (shown once): {created.api_key}")
        if saved:
            console.print(f"saved url and api_key to {saved}")
        else:
            console.print("use it with --api-key, HEADSTART_API_KEY, or "
                          "`headstart config set api_key KEY`")

    state.emit(data, render)


@app.command("show")
@common_options
@pass_state
def app_show(state: State) -> None:
    """The app of the configured API key."""
    me = state.client().apps.me()
    state.emit(me.raw, lambda console: console.print(
        f"app [bold]{me.id}[/bold], embedders {me.default_embedders}"))
