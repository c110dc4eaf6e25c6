"""The `headstart` CLI against the live stack: the real API over loopback HTTP, real
Redis, the real Celery worker. Commands run in-process through click's CliRunner (one
also as the installed console script), with a private config folder."""

from __future__ import annotations

import csv
import json
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from headstart.cli import cli
from tests.data import COOKING, HELD_OUT_COOKING, HELD_OUT_SPORTS, SPORTS
from tests.media import crops, photo


@pytest.fixture(scope="module")
def warm(runtime) -> None:
    """Load the embedders before any command runs: the image model's package prints a
    line on first load, and in-process that would land in the stdout CliRunner reads."""
    for embedder in ("efficientnet-lite0", "all-minilm-l6-v2"):
        runtime.embedders.get(embedder)


@pytest.fixture()
def run(api_url, worker, warm, tmp_path):
    """Run `headstart ARGS...` against the live API with a private config folder."""
    env = {"HEADSTART_URL": api_url, "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "HEADSTART_API_KEY": None, "HEADSTART_ADMIN_KEY": "test-admin-key"}

    def invoke(*args: str, expect: int = 0, **extra_env: str | None) -> Result:
        result = CliRunner(env={**env, **extra_env}).invoke(cli, list(args))
        assert result.exit_code == expect, (result.exit_code, result.stdout, result.stderr,
                                            result.exception)
        return result

    return invoke


def as_json(result: Result):
    return json.loads(result.stdout)


@pytest.fixture()
def app_key(run, tmp_path) -> str:
    """A new app, its key saved to the config file by `app create --save`."""
    result = run("app", "create", f"cli-{uuid.uuid4().hex[:10]}", "--save", "--json")
    body = as_json(result)
    path = tmp_path / "config" / "headstart" / "config.toml"
    assert body["saved_to"] == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert body["api_key"] in path.read_text()
    return body["api_key"]


def test_photos_folder_to_predictions(run, app_key, tmp_path):
    photos = tmp_path / "photos"
    for name, seed in (("cat", 7), ("coffee", 8)):
        (photos / name).mkdir(parents=True)
        for n, image in enumerate(crops(photo(name), 4, seed=seed)):
            image.save(photos / name / f"{name}{n}.jpg")
    (photos / "README.md").write_text("photos of two concepts")  # a loose text file
    (photos / "labels.json").write_text("{}")  # neither media nor text: skipped

    added = as_json(run("add", str(photos), "--json"))
    assert added["inputs"] == 9 and added["requests"] == 1
    assert added["concepts"] == {"cat": 4, "coffee": 4} and added["unlabelled"] == 1
    assert added["skipped"] == [str(photos / "labels.json")]
    assert "cat_cat0.jpg-" in " ".join(added["ids"])

    # No --modality: the model takes the embedder of the inputs labelled cat.
    trained = as_json(run("train", "photos", "--concepts", "cat,coffee", "--exclusive",
                          "--wait", "--json"))
    assert trained["model"]["embedder"] == "efficientnet-lite0"
    assert trained["version"]["status"] == "trained"
    assert trained["version"]["metrics"]["accuracy"] == 1.0
    assert trained["job"]["status"] == "succeeded"

    (tmp_path / "query").mkdir()
    photo("cat").transpose(0).save(tmp_path / "query" / "cat.jpg")
    photo("coffee").save(tmp_path / "query" / "coffee.png")
    predicted = as_json(run("predict", "photos", str(tmp_path / "query" / "cat.jpg"),
                            str(tmp_path / "query" / "coffee.png"), "--json"))
    assert [o["concepts"][0]["id"] for o in predicted["outputs"]] == ["cat", "coffee"]
    assert predicted["outputs"][0]["source"].endswith("cat.jpg")

    table = run("predict", "photos", str(tmp_path / "query")).stdout  # a folder: its files
    assert "cat.jpg" in table and "coffee.png" in table and "top concept" in table

    versions = run("versions", "photos").stdout
    assert "versions of photos" in versions and "trained" in versions and "*" in versions
    evaluation = run("eval", "photos").stdout
    assert "per concept" in evaluation and "confusion matrix" in evaluation
    assert "accuracy 1" in evaluation
    assert as_json(run("eval", "photos", "--json"))["version"]["metrics"][
        "confusion_matrix"]["matrix"] == [[4, 0], [0, 4]]

    jobs = as_json(run("jobs", "--json"))["jobs"]
    assert {j["type"] for j in jobs} == {"embed", "train", "predict"}
    assert "succeeded" in run("jobs", "--type", "train").stdout
    shown = as_json(run("jobs", "show", jobs[0]["id"], "--json"))
    assert shown["id"] == jobs[0]["id"]
    assert as_json(run("models", "--json"))["models"][0]["id"] == "photos"


def test_csv_import_to_predictions_with_progress_and_tables(run, app_key, tmp_path):
    table = tmp_path / "news.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows([(t, "sports") for t in SPORTS] + [(t, "cooking") for t in COOKING])
    imported = run("import", str(table), "--wait")
    assert "imported 16 texts in 1 request(s) (concepts cooking: 8, sports: 8)" in imported.stdout
    assert "embedding" in imported.stderr  # the progress bar, on stderr

    trained = run("train", "topics", "--concepts", "sports,cooking", "--exclusive", "--wait")
    assert "created model topics" in trained.stderr
    assert "per concept" in trained.stdout and "sports" in trained.stdout

    result = run("predict", "topics", *HELD_OUT_SPORTS[:2], *HELD_OUT_COOKING[:2], "--json")
    tops = [o["concepts"][0]["id"] for o in as_json(result)["outputs"]]
    assert tops == ["sports", "sports", "cooking", "cooking"]

    # Importing again replaces the rows (ids news-1..16), never duplicates them.
    again = as_json(run("import", str(table), "--json"))
    assert again["ids"][0] == "news-1" and again["inputs"] == 16
    second = as_json(run("train", "topics", "--wait", "--json"))
    assert second["version"]["id"] == "2"
    assert second["version"]["counts"]["examples"] == 16
    rows = as_json(run("versions", "topics", "--json"))["versions"]
    assert [v["id"] for v in rows] == ["2", "1"]


def test_exit_codes_mean_something(run, app_key, api_url, tmp_path):
    # 4: a key the API refuses (also as JSON on stderr with --json).
    result = run("models", "--api-key", "hsk_000000000000_" + "x" * 43, "--json", expect=4)
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "unauthorized" and error["status"] == 401
    # 3: not found.
    assert "not_found" in run("versions", "nope", expect=3).stderr
    run("jobs", "show", "0" * 32, expect=3)
    # 2: usage (a model that does not exist and no --concepts; a bad option; no key).
    assert "--concepts" in run("train", "nope", expect=2).stderr
    run("jobs", "--status", "sleeping", expect=2)
    run("models", expect=2, XDG_CONFIG_HOME=str(tmp_path / "empty"))
    (tmp_path / "empty-dir").mkdir()
    run("add", str(tmp_path / "empty-dir"), expect=2)
    # 1: refused by the API (422), a model without a version.
    run("train", "solo", "--concepts", "a", "--exclusive", expect=1)
    run("train", "later", "--concepts", "a,b")  # created and queued, not waited for
    # 6: waiting ran out (the job goes on).
    run("train", "later", "--wait", "--timeout", "0", expect=6)
    # 5: training failed (no image inputs at all), with the job's error code.
    failed = run("train", "empty", "--concepts", "x,y", "--modality", "image",
                 "--wait", "--json", expect=5)
    assert json.loads(failed.stderr)["error"]["code"] == "no_data"
    # 7: nothing listens there.
    run("models", "--url", "http://127.0.0.1:9", "-q", expect=7)


def test_config_and_up_dry_run(run, tmp_path):
    run("config", "set", "url", "http://example.invalid:1")
    shown = as_json(run("config", "show", "--json", HEADSTART_URL=None))
    assert shown["effective"]["url"] == "http://example.invalid:1" and shown["mode"] == "0o600"
    # The environment wins over the file, and a flag over both.
    assert as_json(run("config", "show", "--json"))["effective"]["url"].startswith(
        "http://127.0.0.1:")
    assert as_json(run("config", "show", "--url", "http://flag:2", "--json"))[
        "effective"]["url"] == "http://flag:2"
    run("config", "unset", "url")
    steps = as_json(run("up", "--dry-run", "--json"))["steps"]
    assert steps[-2][1:] == ["scripts/ensure_redis.py"]
    assert steps[-1][0].endswith("scripts/run_local.sh")


def test_the_installed_console_script(api_url, worker, warm, tmp_path):
    created = CliRunner(env={"XDG_CONFIG_HOME": str(tmp_path)}).invoke(
        cli, ["--url", api_url, "--admin-key", "test-admin-key", "app", "create",
              f"sub-{uuid.uuid4().hex[:8]}", "--json"])
    key = json.loads(created.stdout)["api_key"]
    script = Path(sys.executable).with_name("headstart")
    result = subprocess.run([str(script), "--url", api_url, "--api-key", key, "concepts",
                             "--json"], capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"concepts": []}
    missing = subprocess.run([str(script), "--url", api_url, "--api-key", key, "versions",
                              "nope"], capture_output=True, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path)})
    assert missing.returncode == 3 and "Error:" in missing.stderr
