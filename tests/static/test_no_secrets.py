"""No secret is written into the stack's configs, Dockerfiles, compose or deploy files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from static_support import REPO, dockerfiles, repo_files

# A secret-looking name given a literal value (not empty, not a ${VAR}/$VAR reference or a file).
SECRET_ASSIGNMENT = re.compile(
    r"""(?ix)
    (?P<name>[\w.-]*(password|passwd|secret|token|api[_-]?key|access[_-]?key)[\w.-]*)
    \s*[:=]\s*
    (?P<value>["']?[^\s"'#,]+)
    """
)
# Shapes of real credentials, whatever they are called.
CREDENTIAL_SHAPES = re.compile(r"sk-[A-Za-z0-9_-]{20,}|gsk_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16}")


def stack_files() -> list[Path]:
    """Return the deployment files: configs, Dockerfiles, compose and Railway files."""
    folders = ("loki", "tempo", "deploy")
    files = [p for folder in folders for p in (REPO / folder).rglob("*") if p.is_file()]
    return sorted(set(files) | set(dockerfiles()) | set(repo_files(r"railway\.(toml|json)")))


def literal_secrets(text: str) -> list[str]:
    """Return `name=value` for each secret-named key given a literal value."""
    found = []
    for match in SECRET_ASSIGNMENT.finditer(text):
        value = match.group("value").strip("\"'")
        if value.startswith("$") or value.lower() in {"", "null", "none", "false", "true"}:
            continue
        if match.group("name").lower().endswith(("_file", "_path", "file", "path")):
            continue
        found.append(f"{match.group('name')}={value}")
    return found + CREDENTIAL_SHAPES.findall(text)


def test_the_scan_catches_a_planted_key() -> None:
    """The scanner flags a literal admin password and an API-key-shaped string."""
    key_shaped = "sk-" + "abcdefghijklmnopqrstuvwxyz"  # built here so the repo holds no key shape
    planted = f"GF_SECURITY_ADMIN_PASSWORD: hunter2\nx: {key_shaped}\n"
    assert len(literal_secrets(planted)) == 2
    assert literal_secrets("REDIS_PASSWORD: ${REDIS_PASSWORD}\n") == []


@pytest.mark.parametrize("path", stack_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_file_holds_no_secret(path: Path) -> None:
    """The file assigns no literal value to a secret-named setting and holds no credential."""
    assert literal_secrets(path.read_text(encoding="utf-8", errors="replace")) == []
