"""The providers the exporter knows: the built-in catalog and custom ones from PROVIDERS_FILE."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from exporter.config_text import read_config_file, text_problem
from exporter.errors import ConfigError

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")  # an RFC 9110 token


class AuthStyle(StrEnum):
    """How a provider wants its key presented."""

    BEARER = "bearer"
    X_API_KEY = "x-api-key"
    GOOGLE = "google-oauth"
    NONE = "none"


class ListFormat(StrEnum):
    """The JSON shape of a provider's model list."""

    OPENAI = "openai"  # {"data": [{"id": ...}, ...]}
    ARRAY = "array"  # [{"model_name" or "id": ...}, ...]
    VERTEX = "vertex"  # {"publisherModels": [{"name": ...}, ...]}


class Dialect(StrEnum):
    """How a provider is asked for a streamed completion (an inference probe)."""

    OPENAI = "openai"  # POST {base}/chat/completions, server-sent `data:` chunks, `[DONE]`
    ANTHROPIC = "anthropic"  # POST {base}/messages, named events up to `message_stop`
    VERTEX = "vertex"  # POST …/models/{model}:streamGenerateContent?alt=sse


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """One upstream provider: where it lives and how to probe it cheaply."""

    slug: str
    base_url: str
    probe_path: str = "models"
    auth: AuthStyle = AuthStyle.BEARER
    key_env: str = ""
    list_format: ListFormat = ListFormat.OPENAI
    headers: Mapping[str, str] = field(default_factory=dict)
    status_page_url: str = ""  # its public Statuspage-compatible page; "" when none is known
    probe_interval: float | None = None  # None: PROBE_INTERVAL_SECONDS
    dialect: Dialect = Dialect.OPENAI  # custom providers are OpenAI-compatible

    @property
    def env_prefix(self) -> str:
        """Return the prefix of this provider's variables (`google-vertex` → `GOOGLE_VERTEX`)."""
        return env_prefix(self.slug)

    def probe_url(self, base_url: str | None = None) -> str:
        """Return the probe URL, resolved against `base_url` (default: the catalog's)."""
        base = (base_url or self.base_url).rstrip("/") + "/"
        # A relative path extends the base; an absolute path ("/models/list") replaces its path.
        return urljoin(base, self.probe_path)


def env_prefix(slug: str) -> str:
    """Return the environment-variable prefix for `slug`."""
    return slug.upper().replace("-", "_")


def _spec(slug: str, base_url: str, **kwargs: Any) -> ProviderSpec:
    kwargs.setdefault("key_env", f"{env_prefix(slug)}_API_KEY")
    return ProviderSpec(slug=slug, base_url=base_url, **kwargs)


# The providers the GatewayZ backend routes to (backend-contract.md). Every regular probe is a
# model-list GET, which costs no tokens; INFERENCE_PROBES opts pairs into streamed completions.
# A status page is given only where the provider's page is known to serve Statuspage's
# /api/v2/summary.json at that address (no redirect); README lists the rest.
BUILTIN: tuple[ProviderSpec, ...] = (
    _spec("openrouter", "https://openrouter.ai/api/v1"),
    _spec(
        "openai",
        "https://api.openai.com/v1",
        status_page_url="https://status.openai.com/api/v2/summary.json",
    ),
    _spec(
        "anthropic",
        "https://api.anthropic.com/v1",
        auth=AuthStyle.X_API_KEY,
        headers={"anthropic-version": "2023-06-01"},
        status_page_url="https://status.claude.com/api/v2/summary.json",
        dialect=Dialect.ANTHROPIC,
    ),
    _spec(
        "groq",
        "https://api.groq.com/openai/v1",
        status_page_url="https://groqstatus.com/api/v2/summary.json",
    ),
    _spec("together", "https://api.together.xyz/v1"),
    _spec("fireworks", "https://api.fireworks.ai/inference/v1"),
    _spec(
        "deepinfra",
        "https://api.deepinfra.com/v1/openai",
        probe_path="/models/list",
        list_format=ListFormat.ARRAY,
    ),
    _spec(
        "cerebras",
        "https://api.cerebras.ai/v1",
        status_page_url="https://status.cerebras.ai/api/v2/summary.json",
    ),
    _spec("xai", "https://api.x.ai/v1"),
    # Its model list is ~50 MB: the prober reads a bounded prefix only.
    _spec("featherless", "https://api.featherless.ai/v1"),
    _spec(
        "google-vertex",
        "https://{location}-aiplatform.googleapis.com/v1",
        probe_path="publishers/google/models",
        auth=AuthStyle.GOOGLE,
        key_env="GOOGLE_VERTEX_CREDENTIALS_JSON",
        list_format=ListFormat.VERTEX,
        dialect=Dialect.VERTEX,
    ),
    _spec("alibaba-cloud", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"),
    _spec("zai", "https://api.z.ai/api/paas/v4"),
    _spec(
        "deepseek",
        "https://api.deepseek.com/v1",
        status_page_url="https://status.deepseek.com/api/v2/summary.json",
    ),
    _spec("moonshot", "https://api.moonshot.ai/v1"),
    _spec("minimax", "https://api.minimax.io/v1"),
    _spec("xiaomi", "https://api.xiaomimimo.com/v1"),
    _spec("meta", "https://api.meta.ai/v1"),
    _spec("novita", "https://api.novita.ai/v3/openai"),
)


class _FileProvider(BaseModel):
    """One entry of PROVIDERS_FILE."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slug: str
    base_url: str = Field(pattern=r"^https?://[^\s/]+")
    probe_path: str = "models"
    auth: AuthStyle = AuthStyle.BEARER
    key_env: str | None = Field(default=None, pattern=r"^[A-Z_][A-Z0-9_]*$")
    list_format: ListFormat = ListFormat.OPENAI
    headers: dict[str, str] = Field(default_factory=dict)
    status_page_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+")
    probe_interval_seconds: float | None = Field(default=None, gt=0, le=3600)

    @field_validator("base_url", "probe_path", "status_page_url")
    @classmethod
    def _check_text(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = text_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not HEADER_NAME.fullmatch(name):
                raise ValueError(f"header name {name!r} is not a valid HTTP header name")
            problem = text_problem(text)
            if problem is not None:
                raise ValueError(f"header {name}: {problem}")
        return value

    @field_validator("slug")
    @classmethod
    def _check_slug(cls, value: str) -> str:
        if not SLUG_PATTERN.fullmatch(value):
            raise ValueError("must be lowercase letters, digits and '-' (at most 63)")
        return value

    def to_spec(self) -> ProviderSpec:
        return _spec(
            self.slug,
            self.base_url,
            probe_path=self.probe_path,
            auth=self.auth,
            list_format=self.list_format,
            headers=dict(self.headers),
            status_page_url=self.status_page_url or "",
            probe_interval=self.probe_interval_seconds,
            **({"key_env": self.key_env} if self.key_env else {}),
        )


class _ProvidersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    providers: list[_FileProvider]


def load_providers_file(path: Path) -> tuple[ProviderSpec, ...]:
    """Read custom providers from a YAML or JSON file.

    Raises ConfigError with one line per problem, each naming the file and line.
    """
    text = read_config_file("PROVIDERS_FILE", path)
    try:
        # JSON is (for our purposes) a subset of YAML: one parser, one kind of position.
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or "not valid YAML or JSON"
        raise ConfigError([f"PROVIDERS_FILE {where}: {problem}"]) from None
    except RecursionError:  # PyYAML recurses per nesting level: "[[[[…" must not crash start-up
        raise ConfigError([f"PROVIDERS_FILE {path}: nested too deeply"]) from None
    try:
        parsed = _ProvidersFile.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            loc = error["loc"]
            dotted = ".".join(_printable(part) for part in loc) or "(top level)"
            lines.append(f"PROVIDERS_FILE {path}:{_line_of(node, loc)}: {dotted}: {error['msg']}")
        raise ConfigError(lines) from None
    _reject_duplicates(path, parsed.providers)
    return tuple(entry.to_spec() for entry in parsed.providers)


def _printable(part: int | str) -> str:
    """Return a key of the file as text that cannot break the one-line-per-problem output."""
    text = str(part)
    return text if text.isprintable() else repr(text)


def _reject_duplicates(path: Path, entries: list[_FileProvider]) -> None:
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if entry.slug in seen:
            raise ConfigError(
                [f"PROVIDERS_FILE {path}: providers.{index}.slug: duplicate slug {entry.slug!r}"]
            )
        seen.add(entry.slug)


def _line_of(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int:
    """Return the 1-based line of the YAML node at `loc`, or of its closest existing parent."""
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node, line = child, child.start_mark.line + 1
    return line


def _child(node: yaml.Node, part: int | str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value == part:
                return value  # type: ignore[no-any-return]
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None


def merge_catalog(custom: tuple[ProviderSpec, ...]) -> dict[str, ProviderSpec]:
    """Return the built-in catalog plus custom providers (a custom slug replaces a built-in)."""
    catalog = {spec.slug: spec for spec in BUILTIN}
    catalog.update((spec.slug, spec) for spec in custom)
    return catalog


# Spellings some backend code paths use for the hyphenated slugs.
ALIASES = {"alibaba": "alibaba-cloud", "vertex": "google-vertex", "google": "google-vertex"}


def normalise_slug(raw: str) -> str:
    """Return the hyphenated spelling of a provider slug (`google_vertex` → `google-vertex`)."""
    slug = raw.strip().lower().replace("_", "-")
    return ALIASES.get(slug, slug)
