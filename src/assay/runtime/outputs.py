"""Collect an execution's outputs: every file under ``outputs/``, hashed, stored, with metadata.

File metadata comes from two places (valohai-compat.md §4.7), both metadata only, never
stored as outputs themselves:

* a sidecar ``<file>.metadata.json`` holding one JSON object;
* ``valohai.metadata.jsonl`` at the top of ``outputs/``: lines ``{"file": …, "metadata": {…}}``.
  A ``file`` naming a folder (``model/``) applies to every file under it.

Both are merged per file: sidecar first, then the JSONL lines in order (later keys win).
A symlink leading outside ``outputs/``, or a metadata ``file`` that escapes it, is refused with
a problem message; every other output of the execution is still collected.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from assay.artifacts import ArtifactStore

SIDECAR_SUFFIX = ".metadata.json"
METADATA_JSONL = "valohai.metadata.jsonl"


@dataclass
class OutputFile:
    name: str  # posix path relative to outputs/
    sha256: str
    size: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class CollectedOutputs:
    files: list[OutputFile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def collect_outputs(
    outputs_dir: Path, store: ArtifactStore, sandbox_root: Path | None = None, *, exclusive: bool = False
) -> CollectedOutputs:
    """Store every output file. ``sandbox_root``: the folder the command saw as ``/valohai``.

    ``exclusive``: every process of the execution is known to have ended, so nothing can write
    to its outputs any more; they are moved into the store. Otherwise each is copied (hashed
    after copying), so a process left behind cannot change a stored byte.
    """
    collected = CollectedOutputs()
    if outputs_dir.is_symlink() or not outputs_dir.is_dir():
        collected.problems.append("outputs/ was replaced (by a symlink or a file); nothing was collected")
        return collected
    root = outputs_dir.absolute()
    candidates = _candidates(root, collected.problems, sandbox_root)
    names = {name for name, _ in candidates}
    sidecars = {
        name for name in names if name.endswith(SIDECAR_SUFFIX) and name[: -len(SIDECAR_SUFFIX)] in names
    }
    metadata = _sidecar_metadata(root, sidecars, collected.problems)
    data_names = sorted(names - sidecars - {METADATA_JSONL})
    _apply_jsonl(root, data_names, metadata, collected.problems)
    paths = dict(candidates)
    for name in data_names:
        path = paths[name]
        try:
            # Only a file nobody else links to is moved into the store: a hard link the
            # command made to a file elsewhere is copied, so that file stays its owner's.
            adopt = exclusive and not path.is_symlink() and path.lstat().st_nlink == 1
            blob = store.put(path, adopt=adopt)
        except OSError as exc:
            collected.problems.append(f"output {name}: could not be stored: {exc}")
            continue
        collected.files.append(OutputFile(name, blob.sha256, blob.size, metadata.get(name, {})))
    return collected


def _candidates(root: Path, problems: list[str], sandbox_root: Path | None) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    real_root = Path(os.path.realpath(root))
    for folder, subfolders, files in os.walk(root):
        base = Path(folder)
        for sub in list(subfolders):
            if (base / sub).is_symlink():
                subfolders.remove(sub)
                problems.append(
                    f"output {_relative(base / sub, root)}/ is a symlink to a folder; it was not followed"
                )
        for file_name in sorted(files):
            path = base / file_name
            name = _relative(path, root)
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                shown = name.encode("utf-8", "replace").decode()
                problems.append(f"output {shown} has a name that is not UTF-8; it was not stored")
                continue
            if path.is_symlink():
                target = _link_target(path, sandbox_root)
                if not target.is_relative_to(real_root):
                    problems.append(
                        f"output {name} is a symlink to {target}, outside outputs/; it was not stored"
                    )
                    continue
                if not target.is_file():
                    problems.append(f"output {name} is a symlink to a missing file; it was not stored")
                    continue
            elif not stat.S_ISREG(path.lstat().st_mode):
                problems.append(f"output {name} is not a regular file; it was not stored")
                continue
            found.append((name, path))
    return found


def _link_target(path: Path, sandbox_root: Path | None) -> Path:
    """Where a symlink leads; ``/valohai/…`` means the execution's own tree when it had one."""
    link = os.readlink(path)
    if sandbox_root is not None and (link == "/valohai" or link.startswith("/valohai/")):
        link = str(sandbox_root) + link[len("/valohai") :]
    return Path(os.path.realpath(path.parent / link))


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _sidecar_metadata(root: Path, sidecars: set[str], problems: list[str]) -> dict[str, dict[str, Any]]:
    metadata: dict[str, dict[str, Any]] = {}
    for sidecar in sorted(sidecars):
        try:
            value = json.loads((root / sidecar).read_text(encoding="utf-8"), parse_constant=_not_json)
        except (OSError, ValueError) as exc:
            problems.append(f"{sidecar}: not valid JSON ({exc}); its metadata was ignored")
            continue
        if not isinstance(value, dict):
            problems.append(f"{sidecar}: must hold a JSON object; its metadata was ignored")
            continue
        metadata[sidecar[: -len(SIDECAR_SUFFIX)]] = value
    return metadata


def _apply_jsonl(
    root: Path, data_names: list[str], metadata: dict[str, dict[str, Any]], problems: list[str]
) -> None:
    path = root / METADATA_JSONL
    if not path.is_file() or path.is_symlink():
        return
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{METADATA_JSONL}:{number}"
        try:
            entry = json.loads(line, parse_constant=_not_json)
        except ValueError as exc:
            problems.append(f"{where}: not valid JSON ({exc}); the line was ignored")
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
            problems.append(f'{where}: needs {{"file": "<path>", "metadata": {{...}}}}; the line was ignored')
            continue
        values = entry.get("metadata")
        if not isinstance(values, dict):
            problems.append(f"{where}: metadata must be a JSON object; the line was ignored")
            continue
        target = _safe_relative(entry["file"])
        if target is None:
            problems.append(f"{where}: file {entry['file']!r} escapes outputs/; the line was ignored")
            continue
        matched = [
            n for n in data_names if n == target or (target and n.startswith(target.rstrip("/") + "/"))
        ]
        if not matched:
            problems.append(f"{where}: no output file {entry['file']!r}; the line was ignored")
            continue
        for name in matched:
            metadata.setdefault(name, {}).update(values)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _safe_relative(name: str) -> str | None:
    """``name`` as a clean path inside outputs/, or None if it is absolute or climbs out."""
    if not name or name.startswith("/") or "\\" in name:
        return None
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    clean = "/".join(parts)
    return clean + "/" if name.endswith("/") and clean else clean
