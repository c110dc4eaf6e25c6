"""The deployment files (docker-compose.yml, .env.example, Makefile, .ci/run) agree
with the code: commands name real entry points, variables name real settings.
No services are needed."""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices, ValidationError

from shared.celery_app import QUEUES
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def env_names(field: str) -> set[str]:
    """Every environment variable that sets ``field`` (HEADSTART_<FIELD> and aliases)."""
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return {str(choice) for choice in alias.choices}
    if isinstance(alias, str):
        return {alias}
    return {f"HEADSTART_{field.upper()}"}


FIELD_OF = {name: field for field in Settings.model_fields for name in env_names(field)}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def argv(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def option(args: list[str], *names: str) -> str:
    for i, arg in enumerate(args):
        if arg in names:
            return args[i + 1]
        for name in names:
            if name.startswith("--") and arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    raise AssertionError(f"none of {names} in {args}")


# --- (a) docker-compose services and commands --------------------------------

def test_compose_has_the_four_services(compose):
    assert {"redis", "qdrant", "api", "worker"} <= set(compose["services"])


def test_compose_redis_persists_and_never_evicts(compose):
    args = argv(compose["services"]["redis"])
    assert option(args, "--appendonly") == "yes"
    assert option(args, "--maxmemory-policy") == "noeviction"
    assert compose["services"]["redis"].get("volumes"), "redis data must be on a volume"


def test_compose_api_command_names_the_app_factory(compose):
    args = argv(compose["services"]["api"])
    assert Path(args[0]).name == "gunicorn"
    target = next(a for a in args[1:] if not a.startswith("-") and ":" in a)
    module, _, attr = target.partition(":")
    assert attr.removesuffix("()") == "create_app"
    factory = importlib.import_module(module).create_app
    assert callable(factory)  # not called: that connects to Redis


def test_compose_worker_command_names_the_celery_app_and_every_queue(compose):
    args = argv(compose["services"]["worker"])
    assert Path(args[0]).name == "celery"
    app_module = option(args, "-A", "--app")
    # Not imported: importing workers.celery_app builds the settings and the runtime.
    source = ROOT / (app_module.replace(".", "/") + ".py")
    assert source.is_file()
    assert re.search(r"^app\s*=", source.read_text(), re.MULTILINE)
    # Prefork against a Qdrant server: time limits enforced, models loaded per child.
    assert option(args, "--pool", "-P") == "prefork"
    assert tuple(option(args, "-Q", "--queues").split(",")) == QUEUES


def test_compose_model_store_is_a_volume_of_the_worker(compose):
    worker = compose["services"]["worker"]
    store = worker["environment"]["HEADSTART_MODEL_STORE"]
    assert any(str(v).split(":")[1] == store for v in worker["volumes"])


def test_every_worker_gets_the_same_allocator_settings(compose):
    tunables = (ROOT / "scripts" / "malloc-tunables").read_text().strip()
    assert compose["services"]["worker"]["environment"]["GLIBC_TUNABLES"] == tunables
    assert "scripts/malloc-tunables" in (ROOT / "scripts" / "run_local.sh").read_text()
    assert "GLIBC_TUNABLES=$(MALLOC_TUNABLES)" in (ROOT / "Makefile").read_text()


# --- (b) compose variables are settings --------------------------------------

def compose_variables(compose: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for service in compose["services"].values():
        env = service.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
        names |= set(env)
    text = (ROOT / "docker-compose.yml").read_text()
    names |= set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    return names


def test_compose_headstart_variables_are_settings(compose):
    names = compose_variables(compose)
    headstart = {n for n in names if n.startswith("HEADSTART_")} | (names & set(FIELD_OF))
    assert headstart, "compose passes no settings"
    unknown = headstart - set(FIELD_OF)
    assert not unknown, f"not settings: {sorted(unknown)}"


def test_compose_connects_to_the_bundled_services(compose):
    env = compose["services"]["worker"]["environment"]
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert env["QDRANT_URL"].startswith("http://qdrant:")


# --- (c) .env.example documents every setting -------------------------------

def example_entries() -> list[tuple[str, str, str]]:
    """(name, value, comment above) of each `NAME=value` or commented `# NAME=value` line."""
    entries, comment = [], ""
    for line in (ROOT / ".env.example").read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            entries.append((match[1], match[2], comment))
            comment = ""
        elif line.startswith("#"):
            comment = line.lstrip("# ").strip()
        else:
            comment = ""
    return entries


def test_env_example_documents_every_setting_and_nothing_else():
    entries = example_entries()
    names = [name for name, _, _ in entries]
    assert len(names) == len(set(names)), "a variable is listed twice"
    unknown = set(names) - set(FIELD_OF)
    assert not unknown, f"not settings: {sorted(unknown)}"
    documented = {FIELD_OF[name] for name in names}
    missing = set(Settings.model_fields) - documented
    assert not missing, f"undocumented settings: {sorted(missing)}"
    assert len(documented) == len(names), "a setting is listed under two names"
    for name, _, comment in entries:
        assert comment, f"{name} has no comment line above it"


def test_env_example_uses_the_short_url_names_and_the_admin_placeholder():
    names = {name: value for name, value, _ in example_entries()}
    assert "REDIS_URL" in names and "QDRANT_URL" in names
    assert names["HEADSTART_ADMIN_KEY"] == "change-me"
    text = (ROOT / ".env.example").read_text()
    assert re.search(r"^HEADSTART_ADMIN_KEY=change-me$", text, re.MULTILINE)  # `make up` edits it


def test_env_example_values_are_the_defaults(tmp_path, monkeypatch):
    for name in FIELD_OF:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    # The admin key line is a placeholder `make up` replaces (and Settings refuses as is).
    text = (ROOT / ".env.example").read_text()
    assert "\nHEADSTART_ADMIN_KEY=change-me\n" in text
    example = tmp_path / "example.env"
    example.write_text(text.replace("\nHEADSTART_ADMIN_KEY=change-me\n", "\n"))
    loaded = Settings(_env_file=example)
    for field, info in Settings.model_fields.items():
        assert getattr(loaded, field) == info.get_default(call_default_factory=True), field


# --- (d) Makefile and CI ------------------------------------------------------

def test_makefile_has_the_targets():
    text = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][\w .-]*?)\s*:(?!=)", text, re.MULTILINE))
    targets = {t for group in targets for t in group.split()}
    assert {"install", "venv", "redis", "up", "test", "bench", "clean"} <= targets


def test_ci_runs_make_test():
    text = (ROOT / ".ci" / "run").read_text()
    assert text.startswith("#!/usr/bin/env bash") or text.startswith("#!/bin/bash")
    assert "set -euo pipefail" in text
    assert re.search(r"^\s*make test\s*$", text, re.MULTILINE)


def test_scripts_the_makefile_runs_exist():
    text = (ROOT / "Makefile").read_text()
    for script in re.findall(r"scripts/[\w.-]+", text):
        assert (ROOT / script).is_file(), script


# --- (e) settings precedence and validation ----------------------------------

def test_dotenv_supplies_a_value_and_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.delenv("HEADSTART_CV_FOLDS", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("HEADSTART_CV_FOLDS=7\n")
    assert Settings().cv_folds == 7  # `.env` of the current directory
    assert Settings(_env_file=tmp_path / ".env").cv_folds == 7
    monkeypatch.setenv("HEADSTART_CV_FOLDS", "3")
    assert Settings(_env_file=tmp_path / ".env").cv_folds == 3


def test_environment_wins_over_dotenv_across_url_aliases(tmp_path, monkeypatch):
    for name in env_names("redis_url"):
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / ".env"
    env_file.write_text("HEADSTART_REDIS_URL=redis://from-file:6379/1\n")
    assert Settings(_env_file=env_file).redis_url == "redis://from-file:6379/1"
    monkeypatch.setenv("REDIS_URL", "redis://from-env:6379/2")
    assert Settings(_env_file=env_file).redis_url == "redis://from-env:6379/2"


def test_task_time_limit_must_be_below_the_visibility_timeout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HEADSTART_TASK_TIME_LIMIT", "3600")
    monkeypatch.setenv("HEADSTART_VISIBILITY_TIMEOUT", "3600")
    with pytest.raises(ValidationError) as err:
        Settings(_env_file=None)
    assert "HEADSTART_TASK_TIME_LIMIT" in str(err.value)
    assert "HEADSTART_VISIBILITY_TIMEOUT" in str(err.value)


def test_the_admin_key_placeholder_is_refused(monkeypatch):
    from pydantic import ValidationError

    from shared.settings import ADMIN_PLACEHOLDER, Settings

    monkeypatch.setenv("HEADSTART_ADMIN_KEY", ADMIN_PLACEHOLDER)
    with pytest.raises(ValidationError, match="HEADSTART_ADMIN_KEY"):
        Settings(_env_file=None)
