"""Human output: tables for listings, metrics and confusion matrices."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from headstart.client import Job, Model, Prediction, Version


def when(ts: float | None) -> str:
    """A Unix time as local ``YYYY-MM-DD HH:MM:SS`` ('-' when unset)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def num(value: Any, digits: int = 4) -> str:
    """A metric for a table: rounded to ``digits`` decimals, '-' for None."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{round(value, digits):g}"
    return str(value)


def jobs_table(console: Console, jobs: Sequence[Job]) -> None:
    """Jobs: id, type, status, progress, times, error."""
    table = Table(title="jobs", title_justify="left")
    for name in ("id", "type", "status", "progress", "created", "seconds", "error"):
        table.add_column(name, no_wrap=name in ("id", "created"))
    for job in jobs:
        seconds = (f"{job.finished_at - (job.started_at or job.created_at):.1f}"
                   if job.finished_at and (job.started_at or job.created_at) else "-")
        error = (job.error or {}).get("code", "") if job.error else ""
        table.add_row(job.id, job.type or "", job.status,
                      f"{job.progress.done}/{job.progress.total}", when(job.created_at), seconds,
                      error)
    console.print(table)


def job_detail(console: Console, job: Job) -> None:
    """One job, field by field."""
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    rows = [("id", job.id), ("type", job.type or ""), ("status", job.status),
            ("progress", f"{job.progress.done}/{job.progress.total}"),
            ("attempts", str(job.attempts)), ("created", when(job.created_at)),
            ("started", when(job.started_at)), ("finished", when(job.finished_at))]
    if job.error:
        rows.append(("error", f"{job.error.get('code')}: {job.error.get('message')}"))
    if job.result is not None and job.type != "predict":
        rows.append(("result", str(job.result)))
    for row in rows:
        table.add_row(*row)
    console.print(table)


def versions_table(console: Console, model: Model, versions: Sequence[Version]) -> None:
    """A model's versions with their headline metrics; the default one marked."""
    table = Table(title=f"versions of {model.id}", title_justify="left")
    for name in ("version", "status", "created", "train s", "examples", "accuracy", "macro F1",
                 "macro ROC AUC", "ECE", "default", "error"):
        table.add_column(name, justify="right" if name in (
            "train s", "examples", "accuracy", "macro F1", "macro ROC AUC", "ECE") else "left")
    for v in versions:
        metrics = v.metrics or {}
        table.add_row(
            v.id, v.status, when(v.created_at), num(v.training_seconds, 2),
            num((v.counts or {}).get("examples")), num(metrics.get("accuracy")),
            num(metrics.get("macro_f1")), num(metrics.get("macro_roc_auc")),
            num(metrics.get("ece")), "*" if v.id == model.default_version else "",
            (v.error or {}).get("code", "") if v.error else
            ("insufficient data" if metrics.get("status") == "insufficient_data" else ""))
    console.print(table)


def evaluation(console: Console, model: Model, version: Version) -> None:
    """A version's metrics: summary, per-concept table, confusion matrix."""
    metrics = version.metrics or {}
    console.print(f"[bold]{model.id}[/bold] version {version.id} ({version.status}), "
                  f"embedder {version.embedder}, "
                  f"{'exclusive' if version.options.get('mutually_exclusive') else 'one-vs-rest'}")
    if version.status != "trained":
        error = version.error or {}
        console.print(f"not trained: {error.get('code', version.status)} "
                      f"{error.get('message', '')}".rstrip())
        return
    if metrics.get("status") != "ok":
        console.print(f"no metrics: {metrics.get('status')} - {metrics.get('reason', '')}")
        return
    summary = [f"{metrics.get('folds')} folds"]
    for key, label in (("accuracy", "accuracy"), ("macro_f1", "macro F1"),
                       ("macro_roc_auc", "macro ROC AUC"), ("ece", "ECE")):
        if metrics.get(key) is not None:
            summary.append(f"{label} {num(metrics[key])}")
    console.print(", ".join(summary))
    table = Table(title="per concept (cross-validated)", title_justify="left")
    table.add_column("concept")
    for name in ("precision", "recall", "F1", "ROC AUC", "support", "threshold"):
        table.add_column(name, justify="right")
    for concept, m in (metrics.get("concepts") or {}).items():
        table.add_row(concept, num(m.get("precision")), num(m.get("recall")), num(m.get("f1")),
                      num(m.get("roc_auc")), num(m.get("support")),
                      num(m.get("suggested_threshold")))
    console.print(table)
    confusion_matrix(console, metrics.get("confusion_matrix"))


def confusion_matrix(console: Console, cm: Any) -> None:
    """Exclusive models: true × predicted; one-vs-rest: tp/fp/fn/tn per concept."""
    if not cm:
        return
    if "labels" in cm:
        table = Table(title="confusion matrix (rows: true, columns: predicted)",
                      title_justify="left")
        table.add_column("")
        for label in cm["labels"]:
            table.add_column(label, justify="right")
        for label, row in zip(cm["labels"], cm["matrix"]):
            table.add_row(label, *(str(n) for n in row))
    else:
        table = Table(title="confusion at 0.5", title_justify="left")
        table.add_column("concept")
        for name in ("tp", "fp", "fn", "tn"):
            table.add_column(name, justify="right")
        for concept, counts in cm.items():
            table.add_row(concept, *(str(counts.get(k, "")) for k in ("tp", "fp", "fn", "tn")))
    console.print(table)


def prediction_table(console: Console, labels: Sequence[str], prediction: Prediction,
                     top: int) -> None:
    """One row per input: its top concepts with values, or its error."""
    table = Table(title=f"model version {prediction.model_version}", title_justify="left")
    table.add_column("input", overflow="fold", max_width=60)
    table.add_column("top concept")
    table.add_column("value", justify="right")
    table.add_column("others")
    for label, output in zip(labels, prediction.outputs):
        if output.error:
            table.add_row(label, "[red]error[/red]", "",
                          f"{output.error.get('code')}: {output.error.get('message')}")
            continue
        best = output.top
        others = ", ".join(f"{c.id} {c.value:.3f}" for c in output.concepts[1:top])
        table.add_row(label, best.id if best else "-", f"{best.value:.3f}" if best else "",
                      others)
    console.print(table)
