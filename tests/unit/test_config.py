"""Tests of settings, the provider catalog, PROVIDERS_FILE and target resolution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exporter.catalog import BUILTIN, ListFormat, load_providers_file, normalise_slug
from exporter.cli import describe_config
from exporter.errors import ConfigError
from exporter.settings import load_settings
from exporter.targets import resolve_targets
from tests.reliability.faults import rsa_private_key_pem

CONTRACT_SLUGS = {
    "openrouter", "openai", "anthropic", "groq", "together", "fireworks", "deepinfra",
    "cerebras", "xai", "featherless", "google-vertex", "alibaba-cloud", "zai", "deepseek",
    "moonshot", "minimax", "xiaomi", "meta", "novita",
}  # fmt: skip


def resolve(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return [t.slug for t in resolve_targets(load_settings(), env)]


def test_catalog_covers_the_backend() -> None:
    """Every provider the backend routes to is in the built-in catalog."""
    assert {spec.slug for spec in BUILTIN} == CONTRACT_SLUGS


def test_defaults() -> None:
    """With nothing set the documented defaults apply."""
    settings = load_settings()
    assert (settings.port, settings.probe_interval_seconds, settings.probe_timeout_seconds) == (
        8001,
        15.0,
        10.0,
    )
    assert (settings.log_format, settings.log_level) == ("json", "INFO")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "0"),
        ("PORT", "70000"),
        ("PORT", "eighty"),
        ("PROBE_INTERVAL_SECONDS", "-1"),
        ("PROBE_TIMEOUT_SECONDS", "0"),
        ("LOG_FORMAT", "xml"),
        ("LOG_LEVEL", "chatty"),
        ("MODELS", "gpt-4o"),
        ("HEALTH_WEIGHT_LATENCY", "2"),
        ("DOWN_AFTER_FAILURES", "0"),
        ("STATUS_PAGES", "maybe"),
        ("STATUS_PAGE_POLL_SECONDS", "0"),
        ("STATUS_PAGE_MAX_COMPONENTS", "0"),
        ("VANTAGE", "EU west"),
        ("VANTAGE", "-eu"),
        ("VANTAGE", "x" * 64),
        ("REPLICA_LEASE_SECONDS", "0.5"),
        ("REPLICA_LEASE_SECONDS", "soon"),
    ],
)
def test_bad_value_names_the_variable(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad value fails with one line that names its variable."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert len(error.value.lines) == 1
    assert error.value.lines[0].startswith(f"{name}: ")


def test_several_problems_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every problem gets its own line."""
    monkeypatch.setenv("PORT", "-5")
    monkeypatch.setenv("PROBE_INTERVAL_SECONDS", "soon")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert sorted(line.split(":")[0] for line in error.value.lines) == [
        "PORT",
        "PROBE_INTERVAL_SECONDS",
    ]


def test_token_value_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rejected secret is named but its value never printed."""
    monkeypatch.setenv("METRICS_AUTH_TOKEN", "not a header value")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert "not a header value" not in str(error.value)
    assert error.value.lines[0].startswith("METRICS_AUTH_TOKEN: ")


def test_default_providers_are_those_with_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without PROVIDERS, every catalog provider whose key variable is set is watched."""
    slugs = resolve({"GROQ_API_KEY": "k1", "ANTHROPIC_API_KEY": "k2"}, monkeypatch)
    assert sorted(slugs) == ["anthropic", "groq"]


def test_providers_without_key_are_unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    """A provider named in PROVIDERS without a key is watched but unconfigured."""
    monkeypatch.setenv("PROVIDERS", "openai, google_vertex")
    targets = resolve_targets(load_settings(), {})
    assert [(t.slug, t.configured) for t in targets] == [
        ("openai", False),
        ("google-vertex", False),
    ]


def test_unknown_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unknown slug in PROVIDERS is a configuration error naming PROVIDERS."""
    monkeypatch.setenv("PROVIDERS", "openai,nosuch")
    with pytest.raises(ConfigError) as error:
        resolve_targets(load_settings(), {})
    assert error.value.lines[0].startswith("PROVIDERS: unknown provider 'nosuch'")


def test_base_url_override_and_probe_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """`{SLUG}_BASE_URL` points a provider elsewhere; absolute probe paths keep their meaning."""
    env = {
        "OPENAI_API_KEY": "k",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "DEEPINFRA_API_KEY": "k",
        "DEEPINFRA_BASE_URL": "http://127.0.0.1:9/v1/openai",
        "ALIBABA_CLOUD_API_KEY": "k",
    }
    targets = {t.slug: t.url for t in resolve_targets(load_settings(), env)}
    assert targets["openai"] == "http://127.0.0.1:9/v1/models"
    assert targets["deepinfra"] == "http://127.0.0.1:9/models/list"
    assert targets["alibaba-cloud"].startswith("https://dashscope-intl.aliyuncs.com/")


def test_bad_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """A base URL that is not http(s) names its variable."""
    with pytest.raises(ConfigError) as error:
        resolve_targets(load_settings(), {"GROQ_API_KEY": "k", "GROQ_BASE_URL": "ftp://x"})
    assert error.value.lines == ["GROQ_BASE_URL: must be an http:// or https:// URL"]


def test_models_must_name_watched_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    """MODELS naming a provider that is not watched is an error naming MODELS."""
    monkeypatch.setenv("MODELS", "openai:gpt-4o")
    with pytest.raises(ConfigError) as error:
        resolve_targets(load_settings(), {"GROQ_API_KEY": "k"})
    assert error.value.lines[0].startswith("MODELS: openai:gpt-4o")


def test_model_ids_may_contain_colons(monkeypatch: pytest.MonkeyPatch) -> None:
    """`provider:model` splits at the first colon only."""
    monkeypatch.setenv("MODELS", "openrouter:meta-llama/llama-3:free")
    assert load_settings().watched_models == (("openrouter", "meta-llama/llama-3:free"),)


def test_vertex_needs_valid_service_account(monkeypatch: pytest.MonkeyPatch) -> None:
    """Vertex credentials must be service-account JSON; the value itself is never echoed."""
    env = {"GOOGLE_VERTEX_CREDENTIALS_JSON": '{"client_email": "x"}'}
    with pytest.raises(ConfigError) as error:
        resolve_targets(load_settings(), env)
    assert error.value.lines[0].startswith("GOOGLE_VERTEX_CREDENTIALS_JSON: ")
    assert 'client_email": "x' not in str(error.value)


def test_vertex_url_uses_location(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Vertex probe URL carries the configured location."""
    key = rsa_private_key_pem()
    account = json.dumps({"client_email": "a@b", "private_key": key, "token_uri": "http://x/t"})
    env = {"GOOGLE_VERTEX_CREDENTIALS_JSON": account, "GOOGLE_VERTEX_LOCATION": "europe-west4"}
    (target,) = resolve_targets(load_settings(), env)
    assert target.url == (
        "https://europe-west4-aiplatform.googleapis.com/v1/publishers/google/models"
    )
    assert "private_key" not in repr(target)


def test_providers_file_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A custom OpenAI-compatible provider from a YAML file is watched once its key is set."""
    path = tmp_path / "providers.yaml"
    path.write_text(
        "providers:\n"
        "  - slug: my-llm\n"
        "    base_url: http://127.0.0.1:9/v1\n"
        "  - slug: open-llm\n"
        "    base_url: http://127.0.0.1:9/open\n"
        "    auth: none\n"
    )
    monkeypatch.setenv("PROVIDERS_FILE", str(path))
    targets = resolve_targets(load_settings(), {"MY_LLM_API_KEY": "k"})
    assert [(t.slug, t.url) for t in targets] == [
        ("my-llm", "http://127.0.0.1:9/v1/models"),
        ("open-llm", "http://127.0.0.1:9/open/models"),
    ]


def test_providers_file_json(tmp_path: Path) -> None:
    """JSON files are read the same way."""
    path = tmp_path / "providers.json"
    path.write_text(
        '{"providers": [{"slug": "x1", "base_url": "https://x.example/v1",'
        ' "list_format": "array", "key_env": "X1_TOKEN"}]}'
    )
    (spec,) = load_providers_file(path)
    assert (spec.slug, spec.list_format, spec.key_env) == ("x1", ListFormat.ARRAY, "X1_TOKEN")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("providers:\n  - slug: ok-one\n    base_url: http://a/v1\n  - slug: Bad Slug\n"
         "    base_url: http://a/v1\n", ":4: providers.1.slug:"),
        ("providers:\n  - slug: a\n    base_url: nope\n", ":3: providers.0.base_url:"),
        ("providers:\n  - slug: a\n    base_url: http://a\n    colour: red\n",
         ":4: providers.0.colour:"),
        ("providers: [\n", ":2:1: "),
        ("{\"providers\": [{\"slug\": \"a\"}]}", ":1: providers.0.base_url:"),
    ],
)  # fmt: skip
def test_providers_file_errors_name_the_line(tmp_path: Path, text: str, expected: str) -> None:
    """Every problem in PROVIDERS_FILE is reported with the file position."""
    path = tmp_path / "providers.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_providers_file(path)
    assert any(line.startswith(f"PROVIDERS_FILE {path}{expected}") for line in error.value.lines), (
        error.value.lines
    )


@pytest.mark.parametrize(
    ("raw", "slug"),
    [("google_vertex", "google-vertex"), ("alibaba", "alibaba-cloud"), ("OpenAI", "openai")],
)
def test_normalise_slug(raw: str, slug: str) -> None:
    """Backend spellings normalise to the hyphenated slug."""
    assert normalise_slug(raw) == slug


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"private_key": "not a key"}, "google-auth cannot load the account (ValueError)"),
        ({"token_uri": "http://x/t\r\nX: 1"}, "token_uri: contains a control character ('\\r'"),
        ({"client_email": "a@b\ud800"}, "client_email: contains bytes that are not UTF-8"),
        ({"project_id": "p\n"}, "project_id: contains a control character ('\\n'"),
    ],
)
def test_vertex_account_fields_are_checked_after_decoding(
    fields: dict[str, str], problem: str
) -> None:
    """JSON escapes spell what the raw text check cannot see: each decoded field is checked, and
    a private key google-auth cannot load is refused at start (it would fail every probe)."""
    account = {
        "client_email": "a@b",
        "private_key": rsa_private_key_pem(),
        "token_uri": "http://x/t",
    }
    env = {"GOOGLE_VERTEX_CREDENTIALS_JSON": json.dumps({**account, **fields})}
    with pytest.raises(ConfigError) as error:
        resolve_targets(load_settings(), env)
    (line,) = error.value.lines
    assert line.startswith("GOOGLE_VERTEX_CREDENTIALS_JSON ") or line.startswith(
        "GOOGLE_VERTEX_CREDENTIALS_JSON: "
    ), line
    assert problem in line
    assert "BEGIN PRIVATE KEY" not in line and "not a key" not in line


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("", ()),
        ("none", ()),
        ("1.1.1.1:53,8.8.8.8:53", ("1.1.1.1:53", "8.8.8.8:53")),
        (" [::1]:53 , localhost:8001", ("[::1]:53", "localhost:8001")),
    ],
)
def test_connectivity_targets(
    value: str, parsed: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """CONNECTIVITY_CHECK_TARGETS is a list of host:port; empty or `none` means inferred."""
    monkeypatch.setenv("CONNECTIVITY_CHECK_TARGETS", value)
    assert load_settings().connectivity_check_targets == parsed


@pytest.mark.parametrize("value", ["1.1.1.1", "1.1.1.1:0", ":53", "host:99999", "a:b", "[::1]"])
def test_bad_connectivity_target_names_the_variable(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A target that is not host:port stops start-up with one line naming the variable."""
    monkeypatch.setenv("CONNECTIVITY_CHECK_TARGETS", f"8.8.8.8:53,{value}")
    with pytest.raises(ConfigError) as error:
        load_settings()
    (line,) = error.value.lines
    assert line.startswith("CONNECTIVITY_CHECK_TARGETS: expected host:port"), line


def test_status_pages_from_catalog_env_and_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalog's page by default; {SLUG}_STATUS_PAGE_URL overrides it (a page's home gets
    the summary path) or disables it with `none`; {SLUG}_STATUS_COMPONENTS narrows it;
    PROVIDERS_FILE entries take `status_page_url`; STATUS_PAGES=off disables them all."""
    path = tmp_path / "providers.yaml"
    path.write_text(
        "providers:\n"
        "  - slug: my-llm\n"
        "    base_url: http://127.0.0.1:9/v1\n"
        "    status_page_url: https://status.my-llm.test\n"
    )
    monkeypatch.setenv("PROVIDERS_FILE", str(path))
    env = {
        "OPENAI_API_KEY": "k",
        "OPENAI_STATUS_COMPONENTS": "API, Chat Completions",
        "GROQ_API_KEY": "k",
        "GROQ_STATUS_PAGE_URL": "https://groq.example/",
        "ANTHROPIC_API_KEY": "k",
        "ANTHROPIC_STATUS_PAGE_URL": "none",
        "TOGETHER_API_KEY": "k",
        "MY_LLM_API_KEY": "k",
    }
    pages = {t.slug: t.status_page for t in resolve_targets(load_settings(), env)}
    assert pages["openai"] is not None
    assert pages["openai"].url == "https://status.openai.com/api/v2/summary.json"
    assert pages["openai"].components == {"api", "chat completions"}
    assert (
        pages["groq"] is not None
        and pages["groq"].url == "https://groq.example/api/v2/summary.json"
    )
    assert pages["anthropic"] is None
    assert pages["together"] is None  # no Statuspage-compatible page known
    assert pages["my-llm"] is not None
    assert pages["my-llm"].url == "https://status.my-llm.test/api/v2/summary.json"
    monkeypatch.setenv("STATUS_PAGES", "off")
    assert all(t.status_page is None for t in resolve_targets(load_settings(), env))


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"GROQ_STATUS_PAGE_URL": "ftp://status"}, "GROQ_STATUS_PAGE_URL"),
        ({"GROQ_STATUS_PAGE_URL": "https://u:p@status.test"}, "GROQ_STATUS_PAGE_URL"),
        ({"GROQ_STATUS_PAGE_URL": "https://status.test/?token=abc"}, "GROQ_STATUS_PAGE_URL"),
        ({"GROQ_STATUS_PAGE_URL": "https://status.test/\x07"}, "GROQ_STATUS_PAGE_URL"),
        ({"TOGETHER_STATUS_COMPONENTS": "API"}, "TOGETHER_STATUS_COMPONENTS"),
    ],
)
def test_bad_status_page_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as error:
        resolve_targets(load_settings(), {"GROQ_API_KEY": "k", "TOGETHER_API_KEY": "k", **env})
    assert len(error.value.lines) == 1
    assert error.value.lines[0].startswith(f"{variable}: ")
    assert "u:p" not in error.value.lines[0] and "abc" not in error.value.lines[0]


def test_check_config_lists_the_status_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """check-config prints each page read, with its components, or that pages are off."""
    env = {"OPENAI_API_KEY": "k", "OPENAI_STATUS_COMPONENTS": "API", "TOGETHER_API_KEY": "k"}
    text = describe_config(load_settings(), resolve_targets(load_settings(), env))
    assert "status pages (1), read every 60s:" in text
    assert (
        "openai           https://status.openai.com/api/v2/summary.json  [components: api]" in text
    )
    monkeypatch.setenv("STATUS_PAGES", "off")
    text = describe_config(load_settings(), resolve_targets(load_settings(), env))
    assert "status pages: off (STATUS_PAGES)" in text


def test_per_provider_probe_intervals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """{SLUG}_PROBE_INTERVAL_SECONDS, else the file's probe_interval_seconds, else the global."""
    path = tmp_path / "providers.yaml"
    path.write_text(
        "providers:\n  - slug: my-llm\n    base_url: http://127.0.0.1:9/v1\n"
        "    probe_interval_seconds: 120\n"
    )
    monkeypatch.setenv("PROVIDERS_FILE", str(path))
    env = {"GROQ_API_KEY": "k", "GROQ_PROBE_INTERVAL_SECONDS": "60", "OPENAI_API_KEY": "k"}
    env["MY_LLM_API_KEY"] = "k"
    found = {t.slug: t.interval for t in resolve_targets(load_settings(), env)}
    assert found == {"groq": 60.0, "openai": None, "my-llm": 120.0}


@pytest.mark.parametrize("value", ["soon", "0", "-5", "3601", "nan", "inf"])
def test_bad_probe_interval_names_the_variable(value: str) -> None:
    env = {"GROQ_API_KEY": "k", "GROQ_PROBE_INTERVAL_SECONDS": value}
    with pytest.raises(ConfigError) as error:
        resolve_targets(load_settings(), env)
    assert len(error.value.lines) == 1
    assert error.value.lines[0].startswith("GROQ_PROBE_INTERVAL_SECONDS: ")
