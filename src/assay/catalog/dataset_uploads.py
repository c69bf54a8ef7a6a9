"""A dataset version from uploaded files, for the layers outside ``catalog/``: the target is
checked before any byte is read (``check_target``), the bytes go to the artifact store, then
everything is recorded in one transaction (``record``)::

    check_target(catalog, project_id, "news", "v4", base=None)
    stored = {"2026-03.jsonl": (blob.sha256, blob.size)}            # after the store took them
    uri = record(catalog, project_id, "news", "v4", stored, "alice", tags=(), base=None, alias_names=())
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from assay.catalog import aliases, datasets, datums
from assay.catalog.uris import Ref

if TYPE_CHECKING:
    from assay.catalog.db import Catalog


def check_target(catalog: Catalog, project_id: str, name: str, version: str, *, base: Ref | None) -> None:
    """``Conflict`` if ``name/version`` exists already; ``NotFound`` if ``base`` names nothing."""
    with catalog.read() as session:
        datasets.check_version_free(session, project_id, name, version)
        if base is not None:
            datasets.resolve(session, project_id, base)


def record(
    catalog: Catalog,
    project_id: str,
    name: str,
    version: str,
    stored: Mapping[str, tuple[str, int]],
    actor: str,
    *,
    tags: Sequence[str],
    base: Ref | None,
    alias_names: Sequence[str],
) -> str:
    """One transaction: a datum per stored file (name → sha256, size), the version (over its
    base's files), its aliases. Returns the version's reference."""
    with catalog.transaction() as session:
        dataset = datasets.ensure_dataset(session, project_id, name, actor)
        contents: dict[str, str] = {}
        base_version = None
        if base is not None:
            _, base_version = datasets.resolve(session, project_id, base)
            contents = {f.name: f.datum_id for f, _ in datasets.files_of(session, base_version.id)}
        for file_name, (sha256, size) in stored.items():
            datum = datums.external_datum(
                session, project_id=project_id, sha256=sha256, size=size, name=file_name,
                source_uri=f"upload:{file_name}",
            )  # fmt: skip
            contents[file_name] = datum.id
        created = datasets.create_version(
            session, dataset=dataset, name=version, files=contents.items(), actor=actor, tags=tags,
            from_version=base_version,
        )  # fmt: skip
        for alias in dict.fromkeys(alias_names):
            aliases.move_alias(
                session, project_id=project_id, kind=datasets.KIND, owner_id=dataset.id,
                owner_name=dataset.name, name=alias, version_id=created.id, actor=actor,
                reason="set when the version was created", version_name=created.name,
            )  # fmt: skip
        return datasets.uri(dataset, created)
