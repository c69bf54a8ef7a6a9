"""The inputs an execution names in the catalog: ``datum://``, ``model://`` and ``dataset://``
references, resolved to the files they hold now, all in one read::

    found = resolve_input_refs(catalog, project_id, ["datum://best", "dataset://news/latest"])
    found["dataset://news/latest"]  # ResolvedRef("dataset://news/v3", ((name, DatumFile), …))

A reference that cannot be resolved maps to its error (``NotFound``, ``InvalidRequest``), for
the caller to report with every other problem of the request.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from assay.catalog import datasets, datums, models
from assay.catalog.datums import DatumFile
from assay.errors import AssayError

if TYPE_CHECKING:
    from assay.catalog.db import Catalog

#: the schemes of references to the catalog (as ``inputs`` lower-cases them)
SCHEMES = ("datum", "model", "dataset")


@dataclass(frozen=True)
class ResolvedRef:
    """What a reference names now: its resolved URI (a version, never an alias) and its files."""

    uri: str  # datum://<id>, model://NAME/VERSION, dataset://NAME/VERSION
    #: (the file's name in the version, or the datum's own name; the datum)
    files: tuple[tuple[str, DatumFile], ...]


def resolve_input_refs(
    catalog: Catalog, project_id: str, refs: Iterable[tuple[str, str]]
) -> dict[str, ResolvedRef | AssayError]:
    """Each (scheme, reference) given, resolved in one read session; by reference."""
    found: dict[str, ResolvedRef | AssayError] = {}
    wanted = [(scheme, ref) for scheme, ref in refs]
    if not wanted:
        return found
    with catalog.read() as session:
        for scheme, ref in wanted:
            if ref in found:
                continue
            try:
                found[ref] = _resolve(session, project_id, scheme, ref)
            except AssayError as exc:
                found[ref] = exc
    return found


def _resolve(session: Session, project_id: str, scheme: str, ref: str) -> ResolvedRef:
    if scheme == "datum":
        datum = datums.get_datum(session, project_id, ref)
        return ResolvedRef(f"datum://{datum.id}", ((datum.name, datums.datum_file(datum)),))
    if scheme == "model":
        model, version = models.resolve(session, project_id, ref)
        model_files = models.files_with_datums(session, version.id)
        return ResolvedRef(
            models.uri(model, version), tuple((f.name, datums.datum_file(d)) for f, d in model_files)
        )
    dataset, dataset_version = datasets.resolve(session, project_id, ref)
    dataset_files = datasets.files_of(session, dataset_version.id)
    return ResolvedRef(
        datasets.uri(dataset, dataset_version),
        tuple((f.name, datums.datum_file(d)) for f, d in dataset_files),
    )
