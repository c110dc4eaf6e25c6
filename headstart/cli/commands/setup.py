"""``headstart up`` (run the service from a checkout) and ``headstart config``."""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path

import click

from headstart.cli.config import KEYS, config_path, read_config, resolve, write_config
from headstart.cli.exit_codes import ExitCode
from headstart.cli.state import CLIError, State, common_options, pass_state


def repo_root() -> Path | None:
    """The checkout this package was installed from (editable installs), if any."""
    root = Path(__file__).resolve().parents[3]
    if (root / "scripts" / "run_local.sh").is_file() and (root / "Makefile").is_file():
        return root
    return None


def up_steps(root: Path) -> list[list[str]]:
    """What ``make up`` runs once installed: ``.env`` if missing, Redis, then the service.

    The Makefile's ``.env`` rule (which writes a fresh admin key), scripts/ensure_redis.py
    and scripts/run_local.sh are reused as they are, so ``make up`` and ``headstart up``
    cannot drift apart.
    """
    venv_python = root / ".venv" / "bin" / "python"
    python = str(venv_python) if venv_python.exists() else sys.executable
    steps = []
    if not (root / ".env").exists():
        steps.append(["make", ".env"])
    steps.append([python, "scripts/ensure_redis.py"])
    steps.append([str(root / "scripts" / "run_local.sh")])
    return steps


@click.command()
@click.option("--dry-run", is_flag=True, help="Print the steps instead of running them.")
@common_options
@pass_state
def up(state: State, dry_run: bool) -> None:
    """Start Redis if needed, then the API and a worker in the foreground (Ctrl-C stops).

    The same as `make up` in a checkout whose .venv is installed: creates .env with a
    new admin key if there is none, starts Redis if none answers at REDIS_URL, and runs
    scripts/run_local.sh (the API on http://127.0.0.1:8000 and one worker).
    """
    import subprocess

    root = repo_root()
    if root is None:
        raise CLIError("`headstart up` runs from a Headstart checkout (installed with "
                       "`pip install -e .`); see the README's set-up", ExitCode.USAGE,
                       "not_a_checkout")
    steps = up_steps(root)
    if dry_run:
        state.emit({"cwd": str(root), "steps": steps},
                   lambda console: [console.print(" ".join(step)) for step in steps])
        return
    if steps[0][0] == "make" and shutil.which("make") is None:
        raise CLIError("`make` is needed once to create .env (or copy .env.example to .env "
                       "and set HEADSTART_ADMIN_KEY)", ExitCode.USAGE, "no_make")
    for step in steps[:-1]:
        result = subprocess.run(step, cwd=root)
        if result.returncode != 0:
            raise CLIError(f"`{' '.join(step)}` failed (exit {result.returncode})",
                           ExitCode.UNAVAILABLE, "setup_failed")
    os.chdir(root)
    sys.stdout.flush()
    sys.stderr.flush()
    # Replace this process: Ctrl-C then reaches run_local.sh directly, which stops
    # the API and the worker gracefully (a parent Python would kill it at once).
    os.execv(steps[-1][0], steps[-1])


@click.group()
def config() -> None:
    """Show or change the saved connection settings (url, api_key, admin_key)."""


@config.command("set")
@click.argument("key", type=click.Choice(KEYS))
@click.argument("value")
@common_options
@pass_state
def config_set(state: State, key: str, value: str) -> None:
    """Save KEY (url, api_key or admin_key) in the config file (mode 0600)."""
    path = write_config({key: value})
    state.emit({"path": str(path), "key": key},
               lambda console: console.print(f"saved {key} in {path}"))


@config.command("unset")
@click.argument("key", type=click.Choice(KEYS))
@common_options
@pass_state
def config_unset(state: State, key: str) -> None:
    """Remove KEY from the config file."""
    path = write_config({key: None})
    state.emit({"path": str(path), "key": key},
               lambda console: console.print(f"removed {key} from {path}"))


def _mask(value: str | None) -> str | None:
    if not value:
        return value
    return value[:16] + "..." if len(value) > 20 else "***"


@config.command("show")
@click.option("--reveal", is_flag=True, help="Show keys in full.")
@common_options
@pass_state
def config_show(state: State, reveal: bool) -> None:
    """The settings in effect (flags > environment > config file) and the file's path."""
    path = config_path()
    effective = resolve({"url": state.url, "api_key": state.api_key,
                         "admin_key": state.admin_key})
    shown = {k: (v if reveal or k == "url" else _mask(v)) for k, v in effective.items()}
    mode = None
    if path.exists():
        mode = oct(stat.S_IMODE(path.stat().st_mode))
    data = {"path": str(path), "exists": path.exists(), "mode": mode, "effective": shown,
            "file": {k: (v if reveal or k == "url" else _mask(v))
                     for k, v in read_config(path).items()}}

    def render(console) -> None:
        console.print(f"config file: {path}" + ("" if path.exists() else " (none)"))
        for key in KEYS:
            console.print(f"{key} = {shown.get(key) or '-'}")

    state.emit(data, render)
