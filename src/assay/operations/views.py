"""Frozen views: what operations return, and the one way each becomes JSON.

The catalog describes what it holds as JSON-able dicts (``catalog/views.py``,
``catalog/registry_views.py``, ``catalog/lineage_views.py``); those shapes are the CLI's
``--json`` and the REST API's bodies. A view takes such a dict apart into named fields once
(:meth:`View.from_json`), and :meth:`View.to_json` gives back the same keys in the same order,
so the CLI and the API print byte-for-byte the same JSON::

    card = VersionCard.from_json(model_version_view(catalog, project_id, "summarizer/v3"))
    card.status                 # "approved"
    card.to_json()              # the dict `assay models show --json` prints

A field's JSON key is its name, or ``meta(key=…)`` where the name is a Python keyword (``from``);
``view=`` makes a nested object (or each item of a list) a view too; ``omit_none=True`` leaves
the key out when the value is None (``as_of`` is only there for ``show --at``). Lists become
tuples. Values deeper than the fields a view names (metrics, parameters, lineage facts) stay
the JSON they are: they are data, not structure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any, ClassVar, Self

#: a JSON value as the catalog describes it (str, number, bool, None, list, dict)
JSON = Any


def meta(
    *, key: str | None = None, view: type[View] | None = None, omit_none: bool = False
) -> dict[str, Any]:
    """The metadata of a field whose JSON key, nested view or omission differs from the default:
    ``field(metadata=meta(key="from"))``; with ``omit_none``, give the field ``default=None``."""
    return {"key": key, "view": view, "omit_none": omit_none}


class View:
    """A frozen dataclass that comes from, and goes back to, one JSON object."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> Self:
        values: dict[str, Any] = {}
        known: set[str] = set()
        for spec in fields(cls):
            key = spec.metadata.get("key") or spec.name
            known.add(key)
            if key not in data:
                if spec.metadata.get("omit_none"):
                    continue
                raise KeyError(f"{cls.__name__}: the catalog's description has no {key!r}")
            values[spec.name] = _inward(data[key], spec.metadata.get("view"))
        extra = set(data) - known
        if extra:
            # NOTE: a key the view does not name would vanish from the CLI's and the API's JSON.
            raise KeyError(f"{cls.__name__}: no field for {', '.join(sorted(extra))}")
        return cls(**values)

    @classmethod
    def many(cls, data: Iterable[Mapping[str, JSON]]) -> tuple[Self, ...]:
        """A view of each of the catalog's descriptions, in their order (a list's rows)."""
        return tuple(cls.from_json(item) for item in data)

    def to_json(self) -> dict[str, JSON]:
        out: dict[str, JSON] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if value is None and spec.metadata.get("omit_none"):
                continue
            out[spec.metadata.get("key") or spec.name] = outward(value)
        return out


def _inward(value: JSON, view: type[View] | None) -> Any:
    if view is not None and isinstance(value, Mapping):
        return view.from_json(value)
    if isinstance(value, list):
        return tuple(_inward(item, view) for item in value)
    return value


def outward(value: Any) -> JSON:
    """A view, or a value holding views, as JSON-able data."""
    if isinstance(value, View):
        return value.to_json()
    if isinstance(value, tuple | list):
        return [outward(item) for item in value]
    if isinstance(value, Mapping):
        return {key: outward(item) for key, item in value.items()}
    return value
