"""Every base image of every Dockerfile is pinned to an exact version."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from static_support import REPO, docker_instructions, dockerfiles

EXACT_TAG = re.compile(r"^[\w./-]+(:v?\d+\.\d+\.\d+[\w.-]*)?(@sha256:[0-9a-f]{64})?$")


def base_images(path: Path) -> list[str]:
    """Return the FROM images of a Dockerfile, with ARG defaults substituted, stages skipped."""
    args: dict[str, str] = {}
    stages: set[str] = set()
    images = []
    for word, rest in docker_instructions(path):
        if word == "ARG" and "=" in rest:
            key, value = rest.split("=", 1)
            args.setdefault(key.strip(), value.strip().strip('"'))
        if word != "FROM":
            continue
        parts = [p for p in rest.split() if not p.startswith("--")]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), parts[0])
        if len(parts) >= 3 and parts[1].lower() == "as":
            stages.add(parts[2])
        if image not in stages and image != "scratch":
            images.append(image)
    return images


def test_dockerfiles_are_found() -> None:
    """The glob finds the Loki and Tempo Dockerfiles (so it would find new ones too)."""
    found = {p.relative_to(REPO).as_posix() for p in dockerfiles()}
    assert {"loki/Dockerfile", "tempo/Dockerfile"} <= found


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_base_images_have_exact_version_tags(dockerfile: Path) -> None:
    """Each FROM names an exact x.y.z tag or a digest: never `latest`, never a bare name."""
    images = base_images(dockerfile)
    assert images, f"{dockerfile} has no FROM"
    for image in images:
        assert "latest" not in image, image
        assert ":" in image or "@" in image, f"{image} has no tag"
        assert EXACT_TAG.match(image), f"{image} is not pinned to an exact version"
