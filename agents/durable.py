"""Run files that survive a SIGKILL or a full disk at any moment: atomic files, a JSONL log, checkpoint folders.

- A whole file (settings, a plot, a rewritten log) is written to a hidden temporary file beside it, flushed,
  fsynced and renamed over the old one, so a reader sees the old file or the new one, never half of one.
- The JSONL log is appended one record at a time with a single ``write`` and an fsync; a failed write is cut
  back off the file. Should a record still be torn (killed inside the write), :func:`read_jsonl` drops the
  last line if, and only if, it does not parse; a damaged line anywhere else is an error naming the line.
- A checkpoint folder is written under a hidden staging name, each file fsynced, then ``manifest.json``
  (every file's size and SHA-256) is written last and the folder is renamed into place: a ``step-NNNNNN``
  folder is complete or absent. :func:`verify_manifest` finds one damaged later (truncated, edited, a file
  missing). Old checkpoints are deleted by first renaming them to a hidden name, so a kill mid-delete never
  leaves a half-deleted folder under a checkpoint's name.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
_CHECKPOINT_NAME = re.compile(r"^step-(\d{6,})$")
_HIDDEN_LEFTOVERS = ("*.partial", "*.deleting", "*.tmp")


class CheckpointDamaged(Exception):
    """A checkpoint folder that cannot be trusted: a file missing, truncated, altered or unreadable."""


class LogDamaged(ValueError):
    """A JSONL log with a damaged line before its last one (not a torn final write)."""


def fsync_dir(folder: Path) -> None:
    """Make the folder's entries (a rename, a new file) durable."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_file(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` all at once (temporary file, fsync, rename)."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with staging.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_with(path: Path, write: Callable[[Path], None]) -> None:
    """Like :func:`atomic_write_bytes` for a writer that wants a file name (``write(temporary_path)``)."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(staging)
        fsync_file(staging)
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def append_line(path: Path, line: str) -> None:
    """Append one line durably: a single write, then fsync; if the write fails, the file is cut back."""
    data = (line.rstrip("\n") + "\n").encode("utf-8")
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(descriptor).st_size
        try:
            written = os.write(descriptor, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, f"only {written} of {len(data)} bytes written to {path}")
            os.fsync(descriptor)
        except OSError:
            os.ftruncate(descriptor, size)  # no torn line is left behind while we are alive to remove it
            raise
    finally:
        os.close(descriptor)


def read_jsonl(path: Path, on_torn_tail: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """The records of a JSONL file. A last line that does not parse is a write cut short by a kill or a full
    disk: it is dropped and ``on_torn_tail`` is told why. Any earlier damaged line raises :class:`LogDamaged`."""
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    records = []
    for number, raw in enumerate(lines, start=1):
        try:
            records.append(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            if number == len(lines):
                if on_torn_tail is not None:
                    on_torn_tail(f"{path}: dropped its last line {number}, a record cut short ({error})")
                break
            raise LogDamaged(
                f"{path}, line {number} of {len(lines)}: not a JSON record ({error}); only a "
                "torn last line is dropped. Repair or delete that line, or start over with "
                "--fresh"
            ) from None
    return records


# --- checkpoint folders ---------------------------------------------------------------------------------


def checkpoint_folders(root: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every published checkpoint under ``root``, oldest first."""
    if not root.is_dir():
        return []
    found = [
        (int(match.group(1)), path)
        for path in root.iterdir()
        if path.is_dir() and (match := _CHECKPOINT_NAME.match(path.name))
    ]
    return sorted(found)


def remove_leftovers(root: Path) -> None:
    """Delete what a killed save or prune left behind (hidden staging and deletion folders)."""
    if root.is_dir():
        for pattern in _HIDDEN_LEFTOVERS:
            for path in root.glob("." + pattern):
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def publish_folder(final: Path, write: Callable[[Path], None]) -> Path:
    """Write a folder with ``write(staging)``, then manifest and rename it to ``final``: all or nothing."""
    staging = final.with_name(f".{final.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        write(staging)
        files = sorted(path for path in staging.iterdir() if path.is_file())
        for path in files:
            fsync_file(path)
        manifest = {"files": {path.name: {"bytes": path.stat().st_size, "sha256": _sha256(path)} for path in files}}
        atomic_write_text(staging / MANIFEST, json.dumps(manifest, indent=1))
        if final.exists():  # a damaged folder of the same step, being replaced by a good one
            _delete(final)
        os.replace(staging, final)
        fsync_dir(final.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def verify_manifest(folder: Path, required: tuple[str, ...]) -> bool:
    """Check every file against the folder's manifest (size and SHA-256) and that ``required`` files are in it.

    Returns False for a folder without a manifest (written before manifests existed: the caller must read it
    through to trust it); raises :class:`CheckpointDamaged` naming what is wrong.
    """
    path = folder / MANIFEST
    if not path.exists():
        missing = [name for name in required if not (folder / name).is_file()]
        if missing:
            raise CheckpointDamaged(f"no {MANIFEST} and {', '.join(missing)} missing")
        return False
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckpointDamaged(f"{MANIFEST} unreadable ({error})") from None
    for name in sorted(set(required) | set(files)):
        entry, file = files.get(name), folder / name
        if entry is None:
            raise CheckpointDamaged(f"{name} is not in {MANIFEST}")
        if not file.is_file():
            raise CheckpointDamaged(f"{name} is missing")
        if file.stat().st_size != entry["bytes"]:
            raise CheckpointDamaged(f"{name} has {file.stat().st_size} bytes, {entry['bytes']} were written")
        if _sha256(file) != entry["sha256"]:
            raise CheckpointDamaged(f"{name} differs from what was written (SHA-256 mismatch)")
    return True


def _delete(folder: Path) -> None:
    """Remove a folder without ever leaving part of it under its own name (rename to a hidden name first)."""
    doomed = folder.with_name(f".{folder.name}.deleting")
    shutil.rmtree(doomed, ignore_errors=True)
    os.replace(folder, doomed)
    fsync_dir(folder.parent)
    shutil.rmtree(doomed)


def prune(root: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` published checkpoints (``keep`` 0: delete none); the removed ones."""
    folders = [path for _, path in checkpoint_folders(root)]
    doomed = folders[:-keep] if keep > 0 else []
    for folder in doomed:
        _delete(folder)
    return doomed


def set_aside(folder: Path) -> Path:
    """Rename a damaged checkpoint out of the way (``step-000020.damaged``), kept for inspection."""
    target, n = folder.with_name(folder.name + ".damaged"), 1
    while target.exists():
        n += 1
        target = folder.with_name(f"{folder.name}.damaged-{n}")
    os.replace(folder, target)
    fsync_dir(folder.parent)
    return target


def folder_bytes(folder: Path) -> int:
    """Total size of the files under a folder."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
