"""Moving and removing an alias of a model or dataset version, one transaction each, for the
layers outside ``catalog/``. A model's alias moves under the project's rules (``governance``:
a protected alias only by a decision); a dataset's moves freely. Each returns the alias's last
move as ``describe_alias_history`` shows it::

    change = set_alias(catalog, project_id, "model", "summarizer/v3", "production", actor="alice",
                       reason="better on long news", override=Override(), policy=policy)
    change.move["to"], change.changed, change.warnings
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.catalog import aliases, datasets, governance, models
from assay.catalog.registry_views import describe_alias_history
from assay.errors import NotFound

if TYPE_CHECKING:
    from assay.catalog.db import Catalog


@dataclass(frozen=True)
class AliasChanged:
    """The alias's last move after the change, and whether this call made it."""

    move: dict[str, Any]
    changed: bool
    #: for the person deciding (a flagged or rejected version)
    warnings: tuple[str, ...] = field(default=())


def set_alias(
    catalog: Catalog,
    project_id: str,
    kind: str,
    ref: str,
    alias: str,
    *,
    actor: str,
    reason: str | None,
    override: governance.Override,
    policy: governance.Policy,
) -> AliasChanged:
    """Point ``alias`` at the version ``ref`` names (``kind`` is ``"model"`` or ``"dataset"``)."""
    warnings: tuple[str, ...] = ()
    with catalog.transaction() as session:
        if kind == models.KIND:
            model, version = models.resolve(session, project_id, ref)
            moved, decision = governance.set_model_alias(
                session, model, version, alias, actor=actor, reason=reason, override=override, policy=policy
            )
            warnings, owner_id, owner_name = decision.warnings, model.id, model.name
        else:
            dataset, dataset_version = datasets.resolve(session, project_id, ref)
            moved = aliases.move_alias(
                session, project_id=project_id, kind=kind, owner_id=dataset.id, owner_name=dataset.name,
                name=alias, version_id=dataset_version.id, actor=actor, reason=reason,
                version_name=dataset_version.name,
            )  # fmt: skip
            owner_id, owner_name = dataset.id, dataset.name
        last = describe_alias_history(session, kind, owner_id, owner_name, alias)[-1]
    return AliasChanged(move=last, changed=moved is not None, warnings=warnings)


def remove_alias(
    catalog: Catalog, project_id: str, kind: str, name: str, alias: str, *, actor: str, reason: str | None
) -> AliasChanged:
    """Remove ``alias`` of the model or dataset ``name``; ``NotFound`` if it has none such."""
    with catalog.transaction() as session:
        if kind == models.KIND:
            model = models.get_model(session, project_id, name)
            owner_id, owner_name = model.id, model.name
        else:
            dataset = datasets.get_dataset(session, project_id, name)
            owner_id, owner_name = dataset.id, dataset.name
        current = aliases.current(session, kind, owner_id)
        if alias not in current:
            raise NotFound(
                f"{kind}://{owner_name} has no alias {alias!r}",
                hint=f"its aliases: {', '.join(current) or 'none'}",
            )
        aliases.move_alias(
            session, project_id=project_id, kind=kind, owner_id=owner_id, owner_name=owner_name, name=alias,
            version_id=None, actor=actor, reason=reason,
        )  # fmt: skip
        last = describe_alias_history(session, kind, owner_id, owner_name, alias)[-1]
    return AliasChanged(move=last, changed=True)
