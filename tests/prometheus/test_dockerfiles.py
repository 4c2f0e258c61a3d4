"""The Prometheus and Alertmanager images put the template, rules and entrypoint exactly where
the entrypoint looks for them, and run it as their entrypoint."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.prometheus.support import ALERTMANAGER_DIR, PROMETHEUS_DIR

# (Dockerfile, entrypoint, {default path in the entrypoint: source copied there}, base image)
IMAGES = [
    (
        PROMETHEUS_DIR,
        "/etc/prometheus/entrypoint.sh",
        {
            "/etc/prometheus/prometheus.yml.tmpl": "prometheus.yml",
            "/etc/prometheus/rules/": "rules/",
        },
        "prom/prometheus:v3.2.1",
    ),
    (
        ALERTMANAGER_DIR,
        "/etc/alertmanager/entrypoint.sh",
        {"/etc/alertmanager/alertmanager.yml.tmpl": "alertmanager.yml"},
        "prom/alertmanager:v0.28.1",
    ),
]


def _copies(dockerfile: str) -> dict[str, str]:
    return {dest: src for src, dest in re.findall(r"^COPY (\S+) (\S+)$", dockerfile, re.M)}


@pytest.mark.parametrize(
    ("directory", "entrypoint", "paths", "base"), IMAGES, ids=["prometheus", "alertmanager"]
)
def test_image_layout_matches_the_entrypoint_defaults(
    directory: Path, entrypoint: str, paths: dict[str, str], base: str
) -> None:
    """Each path the entrypoint reads by default is filled by a COPY of the right repo file,
    the base image is pinned, and the entrypoint is the image's ENTRYPOINT."""
    dockerfile = (directory / "Dockerfile").read_text(encoding="utf-8")
    script = (directory / "entrypoint.sh").read_text(encoding="utf-8")
    copies = _copies(dockerfile)
    assert re.search(rf"^FROM {re.escape(base)}$", dockerfile, re.M)
    assert copies[entrypoint] == "entrypoint.sh"
    assert f'ENTRYPOINT ["{entrypoint}"]' in dockerfile
    for path, source in paths.items():
        assert copies[path] == source
        assert (directory / source).exists()
        assert path.rstrip("/") in script, f"{path} is not the entrypoint's default"


@pytest.mark.parametrize("directory", [PROMETHEUS_DIR, ALERTMANAGER_DIR], ids=lambda d: d.name)
def test_entrypoint_is_posix_sh(directory: Path) -> None:
    """The entrypoint starts with #!/bin/sh (the images are busybox: no bash) and is executable."""
    script = directory / "entrypoint.sh"
    assert script.read_text(encoding="utf-8").startswith("#!/bin/sh\n")
    assert script.stat().st_mode & 0o111
