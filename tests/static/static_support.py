"""Shared readers for the static stack tests: repo paths, YAML loading, key flattening."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

REPO = Path(__file__).resolve().parents[2]
KEYS_DIR = Path(__file__).resolve().parent / "config_keys"
COMPOSE_FILE = REPO / "deploy" / "docker-compose.yml"
LOKI_CONFIG = REPO / "loki" / "loki.yml"
TEMPO_CONFIG = REPO / "tempo" / "tempo.yml"
LOKI_KEYS = KEYS_DIR / "loki-3.4.yml"
TEMPO_KEYS = KEYS_DIR / "tempo-2.7.yml"

# Directories that never hold project files.
SKIPPED_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}


ENV_DEFAULT = re.compile(r"\$\{[A-Z_][A-Z0-9_]*:-([^}]*)\}")


def load_yaml(path: Path) -> Any:
    """Parse one YAML file as its service sees it with no variables set (`${VAR:-x}` → `x`)."""
    if not path.is_file():
        raise AssertionError(f"{path.relative_to(REPO)} does not exist")
    return yaml.safe_load(ENV_DEFAULT.sub(r"\1", path.read_text(encoding="utf-8")))


def flatten_keys(node: Any, prefix: str = "") -> Iterator[str]:
    """Yield the dotted path of every leaf key; list items appear as `[]`."""
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict | list) and value:
                yield from flatten_keys(value, path)
            else:
                yield path
    elif isinstance(node, list):
        for item in node:
            if isinstance(item, dict | list):
                yield from flatten_keys(item, f"{prefix}[]")
            else:
                yield prefix


def key_allowed(key: str, allowed: set[str]) -> bool:
    """Tell whether a dotted key matches an allowed pattern (`*` matches one map key)."""
    if key in allowed:
        return True
    parts = key.split(".")
    for pattern in allowed:
        pattern_parts = pattern.split(".")
        if len(pattern_parts) != len(parts):
            continue
        if all(p in ("*", k) for p, k in zip(pattern_parts, parts, strict=True)):
            return True
    return False


def repo_files(name_pattern: str) -> list[Path]:
    """Return the project's files whose name matches a regex, outside tool directories."""
    regex = re.compile(name_pattern)
    found = []
    for path in REPO.rglob("*"):
        if any(part in SKIPPED_DIRS for part in path.relative_to(REPO).parts):
            continue
        if path.is_file() and regex.fullmatch(path.name):
            found.append(path)
    return sorted(found)


def dockerfiles() -> list[Path]:
    """Return every Dockerfile of the project, found by name so new ones are covered."""
    return repo_files(r"Dockerfile(\..+)?|.+\.Dockerfile")


def compose_services() -> dict[str, Any]:
    """Return the services of the local compose file."""
    compose = load_yaml(COMPOSE_FILE)
    services: dict[str, Any] = compose["services"]
    return services


def env_values(service: dict[str, Any]) -> dict[str, str]:
    """Return a service's environment as a mapping, whichever form it is written in."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def container_ports(service: dict[str, Any]) -> set[int]:
    """Return the container-side ports a compose service publishes."""
    ports = set()
    for entry in service.get("ports", []):
        text = str(entry["target"] if isinstance(entry, dict) else entry)
        ports.add(int(text.split("/")[0].rsplit(":", 1)[-1]))
    return ports


def url_host_port(url: str) -> tuple[str, int]:
    """Split a URL into host and port, with the scheme's default port when none is given."""
    parts = urlsplit(url)
    if parts.hostname is None:
        raise AssertionError(f"{url!r} has no host")
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname, parts.port or default


def endpoint_port(endpoint: str) -> int:
    """Return the port of a `host:port` listen address."""
    return int(endpoint.rsplit(":", 1)[1])


def docker_instructions(path: Path) -> list[tuple[str, str]]:
    """Parse a Dockerfile into (INSTRUCTION, arguments) pairs, joining continued lines."""
    instructions = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        instructions.append((word.upper(), rest.strip()))
    return instructions
