"""The images a project uses and declares, and the state of their environments (``assay envs``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import InvalidRequest, closest
from assay.runtime import images
from assay.spec.model import Spec
from assay.spec.settings import Settings


@dataclass(frozen=True)
class ImageState:
    """One image of a project: where it is used, what is declared, whether it is built."""

    image: str
    used_by: tuple[str, ...]  # steps (and pipeline nodes that override the image)
    wanted: images.Wanted
    built: images.Environment | None

    def as_json(self) -> dict[str, Any]:
        built = self.built
        return {
            "image": self.image,
            "declared": self.wanted.declared,
            "used_by": list(self.used_by),
            "python": self.wanted.python,
            "requirements": list(self.wanted.requirements),
            "requirements_file": str(self.wanted.requirements_file)
            if self.wanted.requirements_file
            else None,
            "key": self.wanted.key,
            "path": str(self.wanted.path),
            "built": built is not None,
            "python_version": built.python_version if built else None,
            "interpreter": built.interpreter if built else None,
            "built_at": built.manifest.get("built_at") if built else None,
            "notes": list(built.notes) if built else [],
        }


def project_images(root: Path, spec: Spec, settings: Settings) -> list[ImageState]:
    """Every image the project's steps use or its ``assay.yaml`` declares, in that order."""
    used: dict[str, list[str]] = {}
    for step in spec.steps.values():
        used.setdefault(step.image, []).append(step.name)
    for pipeline in spec.pipelines.values():
        for node in pipeline.nodes.values():
            definition = node.definition
            if (
                definition is not None
                and definition.image != spec.steps.get(definition.name, definition).image
            ):
                used.setdefault(definition.image, []).append(f"{pipeline.name}.{node.name}")
    for name in settings.images:
        used.setdefault(name, [])
    found = []
    for image, users in used.items():
        want = images.wanted(image, settings.images.get(image), root)
        found.append(ImageState(image, tuple(users), want, images.load(want)))
    return found


def one(states: list[ImageState], image: str) -> ImageState:
    for state in states:
        if state.image == image:
            return state
    close = closest(image, [s.image for s in states])
    raise InvalidRequest(
        f"the project neither uses nor declares image {image!r}"
        + (f"; did you mean {close!r}?" if close else ""),
        hint=f"its images: {', '.join(s.image for s in states) or 'none'} (`assay envs list`)",
    )


def packages(environment: images.Environment) -> list[str]:
    """What the environment holds: ``name==version`` of every installed distribution."""
    try:
        names = sorted(e.name for e in os.scandir(environment.site_packages) if e.name.endswith(".dist-info"))
    except OSError:
        return []
    return [n.removesuffix(".dist-info").replace("-", "==", 1) for n in names]


def size_of(path: Path) -> int:
    """Bytes under ``path`` (files counted once, links not followed)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total
