"""Which providers to watch, with their resolved URL and credential."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from exporter.catalog import (
    AuthStyle,
    ProviderSpec,
    load_providers_file,
    merge_catalog,
    normalise_slug,
)
from exporter.config_text import check_text, read_config_file
from exporter.errors import ConfigError
from exporter.settings import Settings

URL_PATTERN = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
LOCATION_PATTERN = re.compile(r"^[a-z0-9-]{1,40}$")


@dataclass(frozen=True, slots=True)
class StatusPage:
    """Where a provider publishes its status, and which of its components count."""

    url: str  # the summary.json URL
    components: frozenset[str] = frozenset()  # casefolded names; empty: every component


def summary_url(url: str) -> str:
    """Return the summary.json URL of a page given as its home (`https://status.x.com`) or as a
    JSON URL already."""
    if url.split("?", 1)[0].endswith(".json"):
        return url
    return url.rstrip("/") + "/api/v2/summary.json"


@dataclass(frozen=True, slots=True)
class GoogleAccount:
    """A Google service account, parsed from its JSON; the private key never leaves this object."""

    info: Mapping[str, Any]
    project_id: str | None

    def __repr__(self) -> str:
        return f"GoogleAccount(client_email={self.info.get('client_email')!r})"


Credential = SecretStr | GoogleAccount


@dataclass(frozen=True, slots=True)
class Target:
    """One provider the exporter watches."""

    spec: ProviderSpec
    url: str
    credential: Credential | None  # None: no key configured, so the provider is `unconfigured`
    status_page: StatusPage | None = None  # its public status page, read beside the probes
    interval: float | None = None  # its own probe interval; None: PROBE_INTERVAL_SECONDS
    base: str | None = None  # its API's base URL as resolved (None: the catalog's)
    location: str | None = None  # the Google Cloud region, for Vertex

    @property
    def api_base(self) -> str:
        """Return the base URL its API paths (models, chat/completions …) extend."""
        return (self.base or self.spec.base_url).rstrip("/")

    @property
    def slug(self) -> str:
        return self.spec.slug

    @property
    def configured(self) -> bool:
        return self.credential is not None or self.spec.auth is AuthStyle.NONE


def resolve_targets(settings: Settings, environ: Mapping[str, str]) -> tuple[Target, ...]:
    """Return the providers to watch.

    Default: every catalog provider whose key variable is set. Raises ConfigError naming the
    variable for unknown slugs, bad URLs, bad credentials or MODELS naming unwatched providers.
    """
    custom = load_providers_file(settings.providers_file) if settings.providers_file else ()
    catalog = merge_catalog(custom)
    slugs = _chosen_slugs(settings, catalog, environ)
    errors: list[str] = []
    targets = []
    for slug in slugs:
        try:
            target = _resolve(catalog[slug], environ)
            if settings.status_pages:
                target = replace(target, status_page=_status_page(catalog[slug], environ))
            targets.append(target)
        except ConfigError as exc:
            errors.extend(exc.lines)
    watched = {target.slug for target in targets}
    for provider, model in settings.watched_models:
        if normalise_slug(provider) not in watched:
            errors.append(f"MODELS: {provider}:{model} names a provider that is not watched")
    errors.extend(_check_inference(settings, targets))
    if errors:
        raise ConfigError(errors)
    return tuple(targets)


def _chosen_slugs(
    settings: Settings, catalog: Mapping[str, ProviderSpec], environ: Mapping[str, str]
) -> list[str]:
    if settings.providers is None:
        return [
            slug
            for slug, spec in catalog.items()
            if spec.auth is AuthStyle.NONE or environ.get(spec.key_env, "").strip()
        ]
    chosen = []
    unknown = []
    for raw in settings.providers:
        slug = normalise_slug(raw)
        if slug not in catalog:
            unknown.append(raw)
        elif slug not in chosen:
            chosen.append(slug)
    if unknown:
        known = ", ".join(sorted(catalog))
        raise ConfigError(
            [f"PROVIDERS: unknown provider {name!r} (known: {known})" for name in unknown]
        )
    return chosen


def _resolve(spec: ProviderSpec, environ: Mapping[str, str]) -> Target:
    base_var = f"{spec.env_prefix}_BASE_URL"
    base = environ.get(base_var, "").strip() or None
    if base is not None:
        check_text(base_var, base)
    if base is not None and not URL_PATTERN.fullmatch(base):
        raise ConfigError([f"{base_var}: must be an http:// or https:// URL"])
    credential = _credential(spec, environ)
    location = _vertex_location(environ) if spec.auth is AuthStyle.GOOGLE else None
    if location is not None and base is None:
        base = spec.base_url.format(location=location)
    return Target(
        spec=spec,
        url=spec.probe_url(base),
        credential=credential,
        interval=_interval(spec, environ),
        base=base,
        location=location,
    )


def _check_inference(settings: Settings, targets: list[Target]) -> list[str]:
    """Return a line per INFERENCE_PROBES pair that cannot be probed as configured."""
    by_slug = {target.slug: target for target in targets}
    errors = []
    for provider, model in settings.inference_pairs:
        target = by_slug.get(normalise_slug(provider))
        if target is None:
            errors.append(
                f"INFERENCE_PROBES: {provider}:{model} names a provider that is not watched"
            )
        elif isinstance(target.credential, GoogleAccount) and not target.credential.project_id:
            errors.append(
                f"INFERENCE_PROBES: {provider}:{model} needs a Google Cloud project "
                "(GOOGLE_PROJECT_ID, or project_id in the service-account JSON)"
            )
    return errors


def _interval(spec: ProviderSpec, environ: Mapping[str, str]) -> float | None:
    """Return `{SLUG}_PROBE_INTERVAL_SECONDS`, else PROVIDERS_FILE's, else None (the global)."""
    var = f"{spec.env_prefix}_PROBE_INTERVAL_SECONDS"
    raw = environ.get(var, "").strip()
    if not raw:
        return spec.probe_interval
    try:
        seconds = float(raw)
    except ValueError:
        raise ConfigError([f"{var}: expected seconds, for example 30 (got {raw!r})"]) from None
    if not 0 < seconds <= 3600:  # also refuses nan and inf
        raise ConfigError([f"{var}: must be greater than 0 and at most 3600 (got {raw!r})"])
    return seconds


def _status_page(spec: ProviderSpec, environ: Mapping[str, str]) -> StatusPage | None:
    """Return the provider's status page: `{SLUG}_STATUS_PAGE_URL` (`none` disables it), else the
    catalog's; `{SLUG}_STATUS_COMPONENTS` narrows it to some components (or groups)."""
    url_var = f"{spec.env_prefix}_STATUS_PAGE_URL"
    url = environ.get(url_var, "").strip()
    source = url_var
    if url_var in environ:
        check_text(url_var, url)
    if not url:
        url, source = spec.status_page_url, f"PROVIDERS_FILE status_page_url of {spec.slug}"
    if url.lower() == "none":
        url = ""
    if url and not URL_PATTERN.fullmatch(url):
        raise ConfigError([f"{source}: must be an http:// or https:// URL (or none)"])
    parts = urlsplit(url)
    if url and ("@" in parts.netloc or parts.query or parts.fragment):
        # it is shown on the page, in the API and by check-config: nothing secret may ride in it
        raise ConfigError([f"{source}: a public status page's URL needs no credentials or query"])
    names_var = f"{spec.env_prefix}_STATUS_COMPONENTS"
    raw = environ.get(names_var, "")
    check_text(names_var, raw)
    names = frozenset(part.strip().casefold() for part in raw.split(",") if part.strip())
    if names and not url:
        raise ConfigError([f"{names_var}: {spec.slug} has no status page (set {url_var})"])
    return StatusPage(summary_url(url), names) if url else None


def _credential(spec: ProviderSpec, environ: Mapping[str, str]) -> Credential | None:
    raw = environ.get(spec.key_env, "").strip() if spec.key_env else ""
    if not raw or spec.auth is AuthStyle.NONE:
        return None
    if spec.auth is not AuthStyle.GOOGLE:
        check_text(spec.key_env, raw)  # a key travels in a header: no line break, no stray byte
        return SecretStr(raw)
    return _google_account(spec.key_env, raw, environ)


def _google_account(var: str, raw: str, environ: Mapping[str, str]) -> GoogleAccount:
    check_text(var, raw, multiline=True)  # pretty-printed JSON has line breaks
    if not raw.startswith("{"):
        raw = read_config_file(var, raw)  # a path to the JSON file
        check_text(var, raw, multiline=True)
    try:
        info = json.loads(raw)
    except ValueError:
        raise ConfigError([f"{var}: not valid JSON"]) from None
    required = ("client_email", "private_key", "token_uri")
    if not isinstance(info, dict) or any(not isinstance(info.get(k), str) for k in required):
        raise ConfigError([f"{var}: service-account JSON needs {', '.join(required)}"])
    for key in required:  # JSON escapes can spell what the raw text check could not see
        check_text(f"{var} {key}", info[key], multiline=key == "private_key")
    _check_loads(var, info)
    project_var = "GOOGLE_PROJECT_ID"
    project = environ.get(project_var, "").strip()
    if not project and isinstance(info.get("project_id"), str):
        project_var, project = f"{var} project_id", info["project_id"]
    if project:
        check_text(project_var, project)  # it travels in the x-goog-user-project header
    return GoogleAccount(info=info, project_id=project or None)


def _check_loads(var: str, info: dict[str, Any]) -> None:
    """Raise ConfigError unless google-auth accepts the account (its private key parses): a key
    that cannot sign would fail every probe, which is our problem, not the provider's."""
    from google.oauth2 import service_account  # ~30 MB: only when Vertex is configured

    try:
        service_account.Credentials.from_service_account_info(info)  # type: ignore[no-untyped-call]
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        # the message could quote the key: only its kind is shown
        raise ConfigError(
            [f"{var}: google-auth cannot load the account ({type(exc).__name__})"]
        ) from None


def _vertex_location(environ: Mapping[str, str]) -> str:
    location = environ.get("GOOGLE_VERTEX_LOCATION", "").strip() or "us-central1"
    if not LOCATION_PATTERN.fullmatch(location):
        raise ConfigError(["GOOGLE_VERTEX_LOCATION: expected a region such as us-central1"])
    return location
