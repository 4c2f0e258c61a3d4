"""The command line: `provider-exporter [run | demo | check-config]`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from exporter import __version__
from exporter.errors import ConfigError
from exporter.logs import exception_site
from exporter.probing.dialects import PROMPT_TOKENS
from exporter.service import serve
from exporter.serving.listening import check_listen
from exporter.settings import Settings, load_settings
from exporter.targets import Target, resolve_targets

EXIT_CONFIG = 2
EXIT_FAILURE = 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named in `argv`; return the process exit status."""
    parser = argparse.ArgumentParser(
        prog="provider-exporter",
        description="Probe upstream AI providers and export their health for Prometheus.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "command",
        nargs="?",
        default="run",
        choices=("run", "demo", "check-config"),
        help="run (default): the exporter; demo: against simulated providers; "
        "check-config: validate the environment and print the resolved providers",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from exporter.demo import run_demo  # only the demo needs its fake providers

            return run_demo()
        settings, targets = load_config()
        if args.command == "check-config":
            check_listen(settings.port, settings.listen_addresses)
            print(describe_config(settings, targets))
            return 0
        asyncio.run(serve(settings, targets))  # raises ConfigError when it cannot listen
    except ConfigError as exc:
        for line in exc.lines:
            print(f"configuration error: {line}", file=sys.stderr)
        return EXIT_CONFIG
    except Exception as exc:  # a bug of ours: one line saying where, exit 1, never a traceback
        print(f"provider-exporter stopped: unexpected {exception_site(exc)}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


def load_config() -> tuple[Settings, tuple[Target, ...]]:
    """Read settings and resolve targets from the environment; raise ConfigError on problems."""
    settings = load_settings()
    return settings, resolve_targets(settings, os.environ)


def _without_credentials(url: str) -> str:
    """Return `url` with any user:password part masked."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def describe_config(settings: Settings, targets: Sequence[Target]) -> str:
    """Return a human-readable summary of the resolved configuration, with keys masked."""
    lines = [
        "configuration ok",
        f"listening on port {settings.port} ({', '.join(settings.listen_addresses)})",
        f"probe every {settings.probe_interval_seconds:g}s, "
        f"timeout {settings.probe_timeout_seconds:g}s, concurrency {settings.probe_concurrency}",
        f"providers ({len(targets)}):",
    ]
    for target in targets:
        key = "key set (masked)" if target.credential is not None else "no key: unconfigured"
        if target.spec.auth.value == "none":
            key = "no auth"
        url = _without_credentials(target.url)
        lines.append(f"  {target.slug:<16} {url}  [{target.spec.auth.value}, {key}]")
    if not targets:
        lines.append("  (none: set a provider's API key variable, or try `provider-exporter demo`)")
    for provider, model in settings.watched_models:
        lines.append(f"watching model {provider}:{model}")
    lines.extend(_describe_inference(settings))
    lines.extend(_describe_status_pages(settings, targets))
    return "\n".join(lines)


def _describe_inference(settings: Settings) -> list[str]:
    """Return the inference pairs and the most tokens a day they could use."""
    pairs = settings.inference_pairs
    if not pairs:
        return ["inference probes: off (INFERENCE_PROBES unset: no token is ever spent)"]
    per_probe = PROMPT_TOKENS + settings.inference_max_output_tokens
    per_day = 86_400 / settings.inference_probe_interval_seconds
    worst = len(pairs) * per_day * per_probe
    budget = settings.inference_budget_tokens_per_day
    lines = [
        f"inference probes ({len(pairs)}), every {settings.inference_probe_interval_seconds:g}s, "
        f"at most {settings.inference_max_output_tokens} output tokens each:",
        *(f"  {provider}:{model}" for provider, model in pairs),
        f"worst case {worst:,.0f} tokens/day = {len(pairs)} pairs x {per_day:,.0f} probes/day x "
        f"{per_probe} tokens (before confirmation probes); budget {budget:,} tokens/day"
        + (": probes stop at the budget" if worst > budget else ""),
    ]
    return lines


def _describe_status_pages(settings: Settings, targets: Sequence[Target]) -> list[str]:
    if not settings.status_pages:
        return ["status pages: off (STATUS_PAGES)"]
    pages = [t for t in targets if t.status_page is not None]
    lines = [f"status pages ({len(pages)}), read every {settings.status_page_poll_seconds:g}s:"]
    for target in pages:
        assert target.status_page is not None
        names = sorted(target.status_page.components)
        only = f"  [components: {', '.join(names)}]" if names else ""
        lines.append(f"  {target.slug:<16} {target.status_page.url}{only}")
    return lines
