"""Reading what the CLI uploads: folders of media, CSV/JSONL tables of texts."""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from headstart.client import File, NewInput

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
LABEL_SEPARATOR = "|"  # concept ids cannot contain it, so it can join several labels


def input_id(name: str) -> str:
    """A valid, stable input id for a relative path or row name.

    Re-running the same upload then replaces inputs instead of duplicating them.
    Names that are not valid ids as they stand get a short hash, so two names
    that clean up alike (``a b.jpg``, ``a_b.jpg``) still differ.
    """
    if ID_PATTERN.match(name):
        return name
    digest = hashlib.sha1(name.encode("utf-8")).hexdigest()[:10]
    cleaned = re.sub(r"[^A-Za-z0-9_.\-]+", "_", name).strip("_.-")[:100] or "input"
    return f"{cleaned}-{digest}"


@dataclass
class Scan:
    """What a folder holds: inputs to add and what was skipped."""

    inputs: list[NewInput] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    per_concept: dict[str, int] = field(default_factory=dict)


def _files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue  # hidden files and folders (.DS_Store, .git)
        if path.is_file():
            yield path


def _usable(path: Path) -> bool:
    try:
        File(path).kind()
    except (ValueError, OSError):
        return False
    return True


def scan_folder(folder: Path, concept: str | None) -> Scan:
    """The inputs of a folder.

    With ``concept``, every usable file under ``folder`` is a positive of it.
    Without, each subfolder names the concept of the files under it, and files
    directly in ``folder`` are added unlabelled. Ids come from paths relative to
    ``folder``; each input's metadata records that path.

    Args:
        folder: The folder.
        concept: One concept for everything, or ``None`` for subfolder names.
    """
    scan = Scan()
    for path in _files(folder):
        rel = path.relative_to(folder).as_posix()
        if not _usable(path):
            scan.skipped.append(path)
            continue
        label = concept
        if label is None and len(path.relative_to(folder).parts) > 1:
            label = path.relative_to(folder).parts[0]
        concepts = [label] if label else []
        if label:
            scan.per_concept[label] = scan.per_concept.get(label, 0) + 1
        scan.inputs.append(NewInput(File(path), concepts=concepts, id=input_id(rel),
                                    metadata={"path": rel}))
    return scan


@dataclass
class Row:
    """One row of a table: its text, labels and id."""

    text: str
    labels: list[str]
    id: str


def _labels(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [part.strip() for part in str(value).split(LABEL_SEPARATOR) if part.strip()]


def read_table(path: Path, text_column: str = "text", label_column: str = "label",
               id_column: str = "id") -> list[Row]:
    """Rows of a CSV/TSV (header row) or JSONL file.

    A label cell may list several concepts separated by ``|`` (JSONL: also a list),
    or be empty for an unlabelled text. Rows without an id get
    ``<file stem>-<row number>``, so importing the same file again replaces them.

    Raises:
        ValueError: Unknown format, a missing text column, or a row without text
            (the message names the line).
    """
    suffix = path.suffix.lower()
    stem = input_id(path.stem)[:100]
    rows: list[Row] = []
    if suffix in (".jsonl", ".ndjson"):
        with open(path, encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError as exc:
                    raise ValueError(f"{path}:{line_no}: not JSON: {exc}") from exc
                if not isinstance(record, dict):
                    raise ValueError(f"{path}:{line_no}: expected a JSON object")
                rows.append(_row(path, line_no, record, text_column, label_column, id_column,
                                 stem, len(rows) + 1))
        return rows
    if suffix not in (".csv", ".tsv"):
        raise ValueError(f"{path}: expected a .csv, .tsv or .jsonl file")
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ",")
        if reader.fieldnames is None or text_column not in reader.fieldnames:
            raise ValueError(f"{path}: no {text_column!r} column (columns: "
                             f"{', '.join(reader.fieldnames or [])})")
        for record in reader:
            rows.append(_row(path, reader.line_num, record, text_column, label_column,
                             id_column, stem, len(rows) + 1))
    return rows


def _row(path: Path, line_no: int, record: dict, text_column: str, label_column: str,
         id_column: str, stem: str, number: int) -> Row:
    text = record.get(text_column)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{path}:{line_no}: no text in column {text_column!r}")
    given = record.get(id_column)
    row_id = input_id(str(given)) if given not in (None, "") else f"{stem}-{number}"
    return Row(text=text, labels=_labels(record.get(label_column)), id=row_id)
