"""Where the CLI's connection settings come from, and the config file that keeps them.

Precedence, per setting: command-line flag > environment (``HEADSTART_URL``,
``HEADSTART_API_KEY``, ``HEADSTART_ADMIN_KEY``) > the config file
``$XDG_CONFIG_HOME/headstart/config.toml`` (default ``~/.config/headstart/config.toml``)
> built-in default. The admin key also falls back to ``HEADSTART_ADMIN_KEY`` in a
``.env`` of the current folder, where ``make up`` / ``headstart up`` keep it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"
KEYS = ("url", "api_key", "admin_key")
ENV = {"url": "HEADSTART_URL", "api_key": "HEADSTART_API_KEY",
       "admin_key": "HEADSTART_ADMIN_KEY"}


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """The config file's path (honours ``XDG_CONFIG_HOME``)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "headstart" / "config.toml"


def read_config(path: Path | None = None) -> dict[str, str]:
    """The config file's settings (empty when there is no file).

    Raises:
        ValueError: The file is not valid TOML.
    """
    path = path or config_path()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from exc
    return {k: str(v) for k, v in data.items() if k in KEYS and v is not None}


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(ch if ch >= " " else f"\\u{ord(ch):04x}" for ch in escaped) + '"'


def write_config(values: Mapping[str, str | None], path: Path | None = None) -> Path:
    """Merge ``values`` into the config file (``None`` removes a key); mode 0600.

    The file holds API keys, so it is created readable by its owner only, and
    replaced atomically so a crash never leaves half a file.
    """
    path = path or config_path()
    merged = {**read_config(path), **{k: v for k, v in values.items() if v is not None}}
    for key in [k for k, v in values.items() if v is None]:
        merged.pop(key, None)
    unknown = set(merged) - set(KEYS)
    if unknown:
        raise ValueError(f"unknown setting(s) {sorted(unknown)}; known: {', '.join(KEYS)}")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = "".join(f"{key} = {_toml_string(merged[key])}\n" for key in KEYS if key in merged)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o600)  # an existing tmp file keeps its mode through O_CREAT
    os.replace(tmp, path)
    return path


def dotenv_value(name: str, folder: Path | None = None) -> str | None:
    """``name`` from a ``.env`` file in ``folder`` (default: the current one), if any."""
    path = (folder or Path.cwd()) / ".env"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() == name:
            value = value.strip().strip('"').strip("'")
            return value or None
    return None


def resolve(flags: Mapping[str, str | None], environ: Mapping[str, str] | None = None,
            path: Path | None = None) -> dict[str, str | None]:
    """Each setting from the first place that has it (see the module docstring)."""
    env = os.environ if environ is None else environ
    file_values = read_config(path or config_path(env))
    out: dict[str, str | None] = {}
    for key in KEYS:
        out[key] = flags.get(key) or env.get(ENV[key]) or file_values.get(key)
    out["url"] = out["url"] or DEFAULT_URL
    if not out["admin_key"]:
        admin = dotenv_value("HEADSTART_ADMIN_KEY")
        out["admin_key"] = admin if admin and admin != "change-me" else None
    return out
