"""Settings read from environment variables, validated once at start-up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from redis.connection import parse_url

from exporter.config_text import text_problem
from exporter.errors import ConfigError

MAX_MODEL_ID_CHARS = 256  # a longer model id is dropped from a list: it could never be seen
VANTAGE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


# Each type below carries its own check; Settings only lists the fields.


def _split(value: object) -> object:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def _check_pairs(value: tuple[str, ...]) -> tuple[str, ...]:
    for item in value:
        provider, _, model = item.partition(":")
        if not provider or not model:
            raise ValueError(f"expected provider:model, got {item!r}")
        if len(model) > MAX_MODEL_ID_CHARS:  # a listed id this long is dropped: never seen
            raise ValueError(f"a model id is longer than {MAX_MODEL_ID_CHARS} characters")
    return value


def _check_host_ports(value: tuple[str, ...]) -> tuple[str, ...]:
    if tuple(part.lower() for part in value) == ("none",):
        return ()
    for item in value:
        parse_host_port(item)  # raises ValueError naming the item
    return value


def _not_empty(value: tuple[str, ...]) -> tuple[str, ...]:
    if not value:
        raise ValueError("needs at least one address")
    return value


def _check_vantage(value: str) -> str:
    if not VANTAGE.fullmatch(value):  # it is a label value on every provider series
        raise ValueError(
            "lowercase letters, digits, '-' and '_', starting with a letter or digit, at most 63"
        )
    return value


def _check_token(value: SecretStr | None) -> SecretStr | None:
    if value is None or value.get_secret_value() == "":
        return None
    token = value.get_secret_value()
    if not (token.isascii() and token.isprintable()) or any(c.isspace() for c in token):
        raise ValueError("must be printable ASCII without spaces (it travels in a header)")
    return value


def _check_http_url(value: SecretStr | None) -> SecretStr | None:
    if value is None or not value.get_secret_value().strip():
        return None
    if not value.get_secret_value().startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


def _check_redis_url(value: SecretStr | None) -> SecretStr | None:
    if value is None or not value.get_secret_value().strip():
        return None
    if not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must start with redis://, rediss:// or unix://")
    try:
        parse_url(value.get_secret_value())  # type: ignore[no-untyped-call]
    except ValueError:
        raise ValueError("not a valid Redis URL (host, port, database number)") from None
    return value


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


def _strip_upper(value: object) -> object:
    return value.strip().upper() if isinstance(value, str) else value


def _blank_is_unset(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


CommaList = Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split)]
PairList = Annotated[CommaList, AfterValidator(_check_pairs)]  # provider:model items
HostPortList = Annotated[CommaList, AfterValidator(_check_host_ports)]  # or "none"
AddressList = Annotated[CommaList, AfterValidator(_not_empty)]
Vantage = Annotated[str, AfterValidator(_check_vantage)]
HeaderToken = Annotated[SecretStr | None, AfterValidator(_check_token)]
SecretHttpUrl = Annotated[SecretStr | None, AfterValidator(_check_http_url)]
SecretRedisUrl = Annotated[SecretStr | None, AfterValidator(_check_redis_url)]
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR"], BeforeValidator(_strip_upper)]
LogFormat = Annotated[Literal["json", "console"], BeforeValidator(_strip)]
HttpEndpoint = Annotated[
    str | None, Field(pattern=r"^https?://\S+$"), BeforeValidator(_blank_is_unset)
]


class Settings(BaseSettings):
    """Every setting of the exporter; see the README's variable table."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    port: int = Field(default=8001, ge=1, le=65535)
    listen_addresses: AddressList = ("::", "0.0.0.0")  # noqa: S104 - a server, by design
    environment: str = Field(default="local", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    providers: CommaList | None = None
    providers_file: Path | None = None
    models: PairList = ()
    probe_interval_seconds: float = Field(default=15.0, gt=0, le=3600)
    probe_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    probe_concurrency: int = Field(default=32, ge=1, le=1024)
    probe_max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    model_list_cap: int = Field(default=1000, ge=1, le=100_000)
    down_after_failures: int = Field(default=4, ge=1, le=20)
    up_after_successes: int = Field(default=2, ge=1, le=20)
    degraded_error_ratio: float = Field(default=0.1, gt=0, le=1)
    latency_target_seconds: float = Field(default=1.0, gt=0)
    latency_slow_seconds: float = Field(default=4.0, gt=0)
    health_weight_availability: float = Field(default=0.4, ge=0, le=1)
    health_weight_error_rate: float = Field(default=0.3, ge=0, le=1)
    health_weight_latency: float = Field(default=0.3, ge=0, le=1)
    metrics_auth_token: HeaderToken = None
    loki_url: SecretHttpUrl = None  # may carry basic-auth credentials
    otel_exporter_otlp_endpoint: HttpEndpoint = None
    redis_url: SecretRedisUrl = None
    redis_poll_interval_seconds: float = Field(default=15.0, gt=0, le=3600)
    redis_poll_budget_seconds: float = Field(default=5.0, gt=0, le=60)
    redis_max_keys: int = Field(default=20_000, ge=1, le=1_000_000)
    exporter_redis_prefix: str = Field(
        default="provider_exporter:", pattern=r"^[A-Za-z0-9_.:-]{1,64}$"
    )
    history_flush_interval_seconds: float = Field(default=60.0, gt=0, le=3600)
    vantage: Vantage = "default"
    replica_lease_seconds: float = Field(default=10.0, ge=1, le=600)
    connectivity_check_targets: HostPortList = ()  # host:port; empty or "none": inferred
    status_pages: bool = True  # STATUS_PAGES=off: no provider's status page is read
    status_page_poll_seconds: float = Field(default=60.0, gt=0, le=86_400)
    status_page_max_components: int = Field(default=20, ge=1, le=500)
    inference_probes: PairList = ()  # provider:model pairs; empty: no token is ever spent
    inference_probe_interval_seconds: float = Field(default=300.0, gt=0, le=86_400)
    inference_max_output_tokens: int = Field(default=8, ge=1, le=4096)
    inference_budget_tokens_per_day: int = Field(default=50_000, ge=0, le=10**12)
    inference_ttft_slow_seconds: float = Field(default=5.0, gt=0, le=3600)
    inference_min_tokens_per_second: float = Field(default=5.0, ge=0, le=100_000)
    log_level: LogLevel = "INFO"
    log_format: LogFormat = "json"

    @field_validator("*", mode="before")
    @classmethod
    def _check_text(cls, value: object) -> object:
        # Every value may end up in a header, a label, a URL or a page: refuse what cannot.
        for text in value if isinstance(value, list | tuple) else (value,):
            if isinstance(text, str) and (problem := text_problem(text)) is not None:
                raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _check_relations(self) -> Settings:
        if self.latency_slow_seconds <= self.latency_target_seconds:
            raise ValueError("LATENCY_SLOW_SECONDS must be greater than LATENCY_TARGET_SECONDS")
        weights = (
            self.health_weight_availability,
            self.health_weight_error_rate,
            self.health_weight_latency,
        )
        if sum(weights) <= 0:
            raise ValueError("HEALTH_WEIGHT_* must not all be 0")
        return self

    @property
    def watched_models(self) -> tuple[tuple[str, str], ...]:
        """Return MODELS as (provider, model) pairs; a model id may itself contain ':'."""
        return _pairs(self.models)

    @property
    def inference_pairs(self) -> tuple[tuple[str, str], ...]:
        """Return INFERENCE_PROBES as (provider, model) pairs, in order, without repeats."""
        return tuple(dict.fromkeys(_pairs(self.inference_probes)))


def _pairs(items: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """Split `provider:model` items; a model id may itself contain ':'."""
    pairs = (item.partition(":") for item in items)
    return tuple((provider, model) for provider, _, model in pairs)


SECRET_FIELDS = frozenset({"metrics_auth_token", "redis_url", "loki_url"})


def parse_host_port(item: str) -> tuple[str, int]:
    """Return (host, port) of `host:port` (`[v6]:port` for IPv6); ValueError naming `item`."""
    host, colon, port = item.rpartition(":")
    host = host.removeprefix("[").removesuffix("]") if host.startswith("[") else host
    if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"expected host:port (for example 1.1.1.1:53), got {item!r}")
    return host, int(port)


def load_settings() -> Settings:
    """Read and validate the settings from the environment.

    Raises ConfigError with one line per problem, each naming its variable.
    """
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError([_describe(error) for error in exc.errors()]) from None


def _describe(error: object) -> str:
    assert isinstance(error, dict)
    loc = error.get("loc") or ()
    message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    if not loc:
        return message
    name = str(loc[0]).upper()
    if str(loc[0]) in SECRET_FIELDS:
        return f"{name}: {message}"
    given = error.get("input")
    shown = f" (got {given!r})" if isinstance(given, str | int | float) else ""
    return f"{name}: {message}{shown}"
