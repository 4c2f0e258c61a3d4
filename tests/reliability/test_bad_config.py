"""Bad configuration, generated: exit 2 and readable lines naming the problem, never a traceback."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from exporter.cli import main
from tests.support.process import BASE_ENV

# One readable line per problem, each naming a variable, or the file and its line.
LINE = re.compile(
    r"^configuration error: (PROVIDERS_FILE \S+: |[A-Z][A-Z0-9_]*: |"
    r"LATENCY_SLOW_SECONDS must|HEALTH_WEIGHT_\* must)"
)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Environment values: any text an operator could paste (no NUL: the OS cannot hold one).
TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40)
VARIABLES = (
    "PORT",
    "PROBE_INTERVAL_SECONDS",
    "PROBE_TIMEOUT_SECONDS",
    "PROBE_CONCURRENCY",
    "PROBE_MAX_BODY_BYTES",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "MODELS",
    "PROVIDERS",
    "OPENAI_BASE_URL",
    "LISTEN_ADDRESSES",
    "LATENCY_TARGET_SECONDS",
    "LATENCY_SLOW_SECONDS",
    "DOWN_AFTER_FAILURES",
    "HEALTH_WEIGHT_LATENCY",
    "METRICS_AUTH_TOKEN",
    "ENVIRONMENT",
)


@contextlib.contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set `values` in os.environ for the block, then restore the previous environment."""
    saved = dict(os.environ)
    os.environ.update(values)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def check_config(values: Mapping[str, str]) -> tuple[int, str, str]:
    """Run `provider-exporter check-config` in-process; return (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with environment(values), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["check-config"])
    return status, out.getvalue(), err.getvalue()


def assert_readable(status: int, stderr: str) -> None:
    """A rejected configuration exits 2 with only well-formed lines; an accepted one exits 0."""
    assert status in (0, 2), status
    assert "Traceback" not in stderr
    if status == 0:
        assert stderr == ""
        return
    lines = stderr.splitlines()
    assert lines
    for line in lines:
        assert LINE.match(line), line


@FUZZ
@given(values=st.dictionaries(st.sampled_from(VARIABLES), TEXT, min_size=1, max_size=6))
@example(values={"PROBE_INTERVAL_SECONDS": "nan"})
@example(values={"LATENCY_SLOW_SECONDS": "inf"})
@example(values={"PORT": "99999999999999999999999"})
@example(values={"LOG_LEVEL": "debug\n"})
@example(values={"MODELS": "openai"})
@example(values={"OPENAI_BASE_URL": "ftp://x"})
def test_any_environment_is_accepted_or_refused_readably(values: dict[str, str]) -> None:
    """Any mix of environment values gives exit 0, or exit 2 with one line per problem."""
    status, _, stderr = check_config({"OPENAI_API_KEY": "sk-fuzz-0123456789", **values})
    assert_readable(status, stderr)


@FUZZ
@given(port=st.one_of(st.integers(max_value=0), st.integers(min_value=65536)))
def test_out_of_range_port_is_refused(port: int) -> None:
    """A port outside 1-65535 exits 2 with a line naming PORT."""
    status, _, stderr = check_config({"PORT": str(port)})
    assert status == 2
    assert stderr.startswith("configuration error: PORT: ")


def test_ten_kilobyte_model_id_is_refused() -> None:
    """A 10 kB model id in MODELS is refused at start, never turned into a label value."""
    status, _, stderr = check_config(
        {"OPENAI_API_KEY": "k" * 20, "MODELS": "openai:" + "m" * 10_000}
    )
    assert status == 2
    assert stderr.startswith("configuration error: MODELS: a model id is longer than 256")


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=12,
)
PROVIDER_KEYS = ("slug", "base_url", "probe_path", "auth", "key_env", "list_format", "headers")
ENTRY = st.dictionaries(
    st.sampled_from(PROVIDER_KEYS) | TEXT,
    st.sampled_from(["ok-slug", "http://127.0.0.1:1/v1", "bearer", "none", "openai", "X_KEY"])
    | JSONISH,
    max_size=6,
)
DOCUMENT = st.one_of(
    JSONISH,
    st.fixed_dictionaries({"providers": st.lists(ENTRY, max_size=3)}),
    st.fixed_dictionaries({"providers": JSONISH}),
)


def run_with_file(text: str) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "providers.yaml"
        path.write_text(text, encoding="utf-8")
        status, _, stderr = check_config({"PROVIDERS_FILE": str(path)})
    return status, stderr


@FUZZ
@given(document=DOCUMENT, as_json=st.booleans())
def test_any_providers_file_is_accepted_or_refused_readably(
    document: object, as_json: bool
) -> None:
    """Any YAML or JSON structure in PROVIDERS_FILE gives exit 0, or exit 2 naming file and line."""
    text = json.dumps(document) if as_json else yaml.safe_dump(document)
    status, stderr = run_with_file(text)
    assert_readable(status, stderr)


@FUZZ
@given(text=TEXT)
@example(text="providers: [")
@example(text="providers:\n  - slug: a\n  -: :\n")
@example(text="{providers: [}")
@example(text="a: 1\n---\nb: 2\n")
@example(text="!!python/object/apply:os.system ['true']")
@example(text="[" * 5000)
@example(text="\t\tproviders: 1")
def test_broken_providers_file_syntax_is_refused_readably(text: str) -> None:
    """Broken YAML/JSON syntax in PROVIDERS_FILE exits 2 with the file and position, or is read."""
    status, stderr = run_with_file(text)
    assert_readable(status, stderr)
    if status == 2:
        assert stderr.startswith("configuration error: PROVIDERS_FILE ")


def test_bad_configuration_through_a_real_process(tmp_path: Path) -> None:
    """The installed entry point turns a bad file and bad variables into exit 2, no traceback."""
    path = tmp_path / "providers.yaml"
    path.write_text("providers:\n  - slug: Bad Slug\n    base_url: nope\n", encoding="utf-8")
    env = {**BASE_ENV, "PROVIDERS_FILE": str(path), "PORT": "0", "LOG_FORMAT": "xml"}
    result = subprocess.run(
        [sys.executable, "-m", "exporter"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert any(line.startswith("configuration error: PORT: ") for line in lines)
    assert any(line.startswith("configuration error: LOG_FORMAT: ") for line in lines)
    assert all(LINE.match(line) for line in lines), lines
