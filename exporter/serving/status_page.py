"""The status page at `/`: one self-contained, server-rendered HTML page of every provider."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape
from urllib.parse import urlencode

from aiohttp import web

from exporter.judgement.scoring import STATES, State
from exporter.judgement.snapshot import AVAILABILITY_WINDOWS, ModelView, ProviderView, Snapshot
from exporter.outcomes import Outcome
from exporter.probing.official import OfficialView
from exporter.serving.api import iso_time, ordered
from exporter.serving.official_html import disagreement_note, official_row

REFRESH_SECONDS = 15
NO_DATA = '<span class="none" title="no data">—</span>'

MEANINGS = {
    State.HEALTHY: "answering correctly and fast enough",
    State.DEGRADED: "answering, but slow, failing some checks, rate-limiting us or breaker open",
    State.DOWN: "several probes in a row failed: timeouts, refused connections, 5xx or bad bodies",
    State.UNKNOWN: "not probed conclusively yet",
    State.UNCONFIGURED: "no API key, or the key was refused (401/403): our problem, not theirs",
}

REASON_TEXT = {
    "ok": "all checks pass",
    "rate_limited": "rate-limiting our probes",
    "probe_rejected": "rejects our probe (4xx)",
    "breaker_open": "gateway circuit breaker open",
    "failing": "too many failed checks in 5 min",
    "slow": "slow: median latency over the threshold",
    "no probe yet": "not probed yet",
    "exporter_offline": "not judged: the exporter cannot reach the network",
    "inference_down": "model list answers, but every probed model's completions fail",
    "inference_partly_down": "some probed models' completions fail",
    "slow_tokens": "too few output tokens per second",
    "budget_exhausted": "not probed: today's token budget is spent",
}

OUTCOME_TEXT = {
    Outcome.OK: "ok",
    Outcome.TIMEOUT: "timed out",
    Outcome.CONNECT_ERROR: "connection failed",
    Outcome.DNS_ERROR: "DNS lookup failed",
    Outcome.TLS_ERROR: "TLS handshake failed",
    Outcome.HTTP_5XX: "server error (5xx)",
    Outcome.HTTP_429: "rate limited (429)",
    Outcome.HTTP_AUTH: "key refused (401/403)",
    Outcome.HTTP_4XX: "probe rejected (4xx)",
    Outcome.BAD_BODY: "unexpected response body",
    Outcome.REDIRECT_ERROR: "redirect loop",
    Outcome.INTERNAL_ERROR: "probe failed unexpectedly",
    Outcome.STREAM_ERROR: "stream broke off or was malformed",
    Outcome.EMPTY_COMPLETION: "empty completion",
}

NOTHING_PROBED = """
<p class="notice" role="status"><b>No provider is configured, so nothing is probed.</b> Set a
provider's API key variable (for example <code>OPENAI_API_KEY</code>) or point
<code>PROVIDERS_FILE</code> at a providers file, then restart the exporter; the README's
Configuration section lists every variable.</p>"""

OFFLINE_NOTICE = """
<p class="notice offline" role="alert"><b>The exporter cannot reach the network.</b> Its own
connectivity check fails (or every provider failed to connect at once), so connection failures,
DNS failures and timeouts are not counted against any provider; a provider it has not been able
to check for two probe intervals shows <code>unknown</code>. States come back with the next probes
once the network does.</p>"""

STYLE = """
:root{--bg:#f6f8fa;--card:#fff;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;
--healthy:#1a7f37;--degraded:#bf8700;--down:#cf222e;--unknown:#818b98;--unconfigured:#6639ba}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--card:#161b22;--fg:#e6edf3;
--muted:#9198a1;--line:#30363d;--healthy:#3fb950;--degraded:#d29922;--down:#f85149;
--unknown:#9198a1;--unconfigured:#ab7df8}}
*{box-sizing:border-box}
body{margin:0;padding:1rem;background:var(--bg);color:var(--fg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header,main,footer,section.legend{max-width:80rem;margin:0 auto}
h1{font-size:1.35rem;margin:0 0 .25rem}
.meta,.muted{color:var(--muted);font-size:.85rem}
.summary{display:flex;flex-wrap:wrap;gap:.5rem;margin:.75rem 0 1rem;padding:0;list-style:none}
.summary li{background:var(--card);border:1px solid var(--line);border-radius:2rem;
padding:.15rem .75rem;font-size:.9rem}
.grid{display:grid;gap:.9rem;grid-template-columns:repeat(auto-fill,minmax(19rem,1fr))}
.card{background:var(--card);border:1px solid var(--line);border-left:.4rem solid var(--c);
border-radius:.5rem;padding:.8rem .9rem;display:flex;flex-direction:column}
.trend{margin-top:auto}
.card h2{font-size:1.05rem;margin:0;display:flex;justify-content:space-between;
align-items:center;gap:.5rem;word-break:break-all}
.pill{background:var(--c);color:#fff;border-radius:1rem;padding:.05rem .6rem;font-size:.8rem;
font-weight:600;white-space:nowrap}
.healthy{--c:var(--healthy)}.degraded{--c:var(--degraded)}.down{--c:var(--down)}
.unknown{--c:var(--unknown)}.unconfigured{--c:var(--unconfigured)}
.reason{margin:.2rem 0 .6rem;color:var(--muted);font-size:.85rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.15rem .75rem;margin:0 0 .5rem;font-size:.9rem}
dt{color:var(--muted)}dd{margin:0;font-variant-numeric:tabular-nums}
.stats{display:grid;grid-template-columns:repeat(5,1fr);gap:.3rem;margin:0 0 .6rem;
text-align:center}
.stats div{background:var(--bg);border-radius:.35rem;padding:.3rem .1rem}
.stats b{display:block;font-size:1rem;font-variant-numeric:tabular-nums;white-space:nowrap}
.stats small{color:var(--muted);font-size:.72rem;text-transform:uppercase;letter-spacing:.04em}
.axis{display:flex;justify-content:space-between;color:var(--muted);font-size:.7rem}
.none{color:var(--muted)}
.notice{background:var(--card);border:1px solid var(--line);border-left:.4rem solid
var(--unconfigured);border-radius:.5rem;padding:.6rem .9rem}
.notice.offline{border-left-color:var(--down)}
.disagree{margin:0 0 .6rem;padding:.3rem .5rem;border-radius:.35rem;font-size:.85rem;
background:var(--bg);border:1px dashed var(--degraded)}
svg.spark{display:block;width:100%;height:44px;margin-top:.5rem}
.spark .lat{fill:none;stroke:var(--fg);stroke-width:1.2;opacity:.7}
.spark .ok{fill:var(--healthy)}.spark .part{fill:var(--degraded)}.spark .bad{fill:var(--down)}
.spark .gap{fill:var(--line)}
.models{margin:.4rem 0 0;padding:0;list-style:none;font-size:.85rem}
table.inference{width:100%;margin:.5rem 0 0;border-collapse:collapse;font-size:.82rem}
.inference th,.inference td{text-align:left;padding:.15rem .3rem;border-top:1px solid var(--line)}
.inference td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.inference .pill{font-size:.7rem}
section.legend{margin:1.5rem auto 0;background:var(--card);border:1px solid var(--line);
border-radius:.5rem;padding:.6rem .9rem}
.legend h2{font-size:1rem;margin:.2rem 0 .4rem}
.legend dl{grid-template-columns:auto 1fr;font-size:.88rem}
footer{margin-top:1rem;font-size:.85rem;color:var(--muted)}
a{color:inherit}
@media (max-width:30rem){body{padding:.6rem}.grid{grid-template-columns:1fr}}
"""


def render_page(snapshot: Snapshot, now: float, query: str = "") -> str:
    """Return the status page for `snapshot` as of unix time `now`.

    `query` (already URL-encoded, with its `?`) is appended to the page's links, so a token given
    as a query option keeps working from them.
    """
    counts = snapshot.count_states()
    summary = "".join(
        f'<li class="{s.value}"><span class="pill">{counts[s]}</span> {s.value}</li>'
        for s in STATES
        if counts[s]
    )
    cards = "\n".join(
        _card(view, now, snapshot.official.get(view.slug)) for view in ordered(snapshot)
    )
    waiting = "" if snapshot.ready else " · waiting for the first probe round"
    notice = "" if any(view.configured for view in snapshot.providers.values()) else NOTHING_PROBED
    if snapshot.offline:
        notice += OFFLINE_NOTICE
    q = escape(query)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<meta name="referrer" content="no-referrer">
<title>Provider status</title>
<style>{STYLE}</style></head>
<body>
<header><h1>Provider status</h1>
<p class="meta">provider-exporter · what the probes see of each upstream AI provider</p>
<p class="meta">As of <time datetime="{iso_time(now)}">{_clock(now)} UTC</time>{waiting} ·
refreshes every {REFRESH_SECONDS} s</p>
<ul class="summary">{summary}</ul>{notice}</header>
<main class="grid">
{cards}
</main>
<section class="legend"><h2>What the states mean</h2><dl>{_legend()}</dl>
<p class="muted">Score: 0–1, weighted from 1 h availability, 5 m error rate and p95 latency
(times the circuit-breaker factor when known). Availability: share of conclusive checks that
succeeded; a 429 or a refused key is not an outage. Bars: each minute of the last hour (green up,
amber partly, red down, grey no check); the line is the mean latency. Their page: what the
provider's own status page says, their claim beside our measurement and never part of it; ⚠
marks where the two disagree.</p></section>
<footer><a href="/api/v1/providers{q}">JSON</a> ·
<a href="/api/v1/openapi.json{q}">OpenAPI</a> · <a href="/metrics">/metrics</a></footer>
</body></html>
"""


def _legend() -> str:
    return "".join(
        f'<dt><span class="pill {state.value}">{state.value}</span></dt><dd>{escape(meaning)}</dd>'
        for state, meaning in MEANINGS.items()
    )


def _card(view: ProviderView, now: float, official: OfficialView | None = None) -> str:
    state = view.state.value
    slug = escape(view.slug)
    score = None if view.score is None else view.score.value
    tiles = [("score", NO_DATA if score is None else f"{score:.2f}", _exact(score))]
    for window in AVAILABILITY_WINDOWS:
        ratio = view.availability.get(window)
        tiles.append((window, _percent(ratio), _exact(ratio)))
    tiles.append(("p95", _duration(view.latency_p95), _exact(view.latency_p95)))
    stats = "".join(
        f'<div title="{title}"><b>{value}</b><small>{name}</small></div>'
        for name, value, title in tiles
    )
    rows = [("last probe", _last_probe(view, now)), ("last failure", _last_failure(view, now))]
    if view.breaker is not None:
        rows.append(("breaker", escape(view.breaker)))
    if view.backoff > 0:
        rows.append(("backing off", f"{view.backoff:.0f} s (Retry-After)"))
    if (their := official_row(official)) is not None:
        rows.append(their)
    details = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in rows)
    return f"""<article class="card {state}" id="provider-{slug}" data-provider="{slug}" \
data-state="{state}">
<h2>{slug}<span class="pill" data-role="state">{state}</span></h2>
<p class="reason">{escape(reason_text(view.reason))} · for {_age(now, view.since)}</p>\
{disagreement_note(view.state, official)}
<div class="stats">{stats}</div>
<dl>{details}</dl>{_models(view)}{_inference(view)}{sparkline(view.minutes)}
</article>"""


def reason_text(reason: str) -> str:
    """Return the state machine's reason (`rate_limited,slow`, `http_5xx`, …) in words."""
    words = [REASON_TEXT.get(part) or _outcome_word(part) for part in reason.split(",") if part]
    return "; ".join(words) or "no reason given"


def _outcome_word(part: str) -> str:
    try:
        return OUTCOME_TEXT[Outcome(part)]
    except ValueError:
        return part


def outcome_text(outcome: Outcome, status: int | None = None) -> str:
    """Return a probe outcome in words, with the HTTP status when it is known."""
    text = OUTCOME_TEXT[outcome]
    if status is None:
        return text
    return f"{text.split(' (')[0]} ({status})"


def _last_probe(view: ProviderView, now: float) -> str:
    if view.last_outcome is None:
        return '<span class="none">never</span>'
    text = escape(outcome_text(view.last_outcome, view.last_status))
    return f"{text}, {_ago(now, view.last_probe_at)}"


def _last_failure(view: ProviderView, now: float) -> str:
    if view.last_failure is None:
        return '<span class="none">none</span>'
    return f"{escape(outcome_text(view.last_failure))}, {_ago(now, view.last_failure_at)}"


def _models(view: ProviderView) -> str:
    if not view.model_uptime:
        return ""
    items = "".join(
        f"<li>{escape(model)}: {_percent(uptime)} <span class='muted'>24 h</span></li>"
        for model, uptime in view.model_uptime.items()
    )
    return f'<ul class="models">{items}</ul>'


def _inference(view: ProviderView) -> str:
    """Return a table of the provider's inference-probed models: state, TTFT, tokens/s."""
    if not view.inference:
        return ""
    return _INFERENCE_TABLE.format(rows="".join(map(_inference_row, view.inference.values())))


_INFERENCE_TABLE = (
    '<table class="inference"><caption class="muted">inference probes (last hour)</caption>'
    "<tr><th>model</th><th>state</th><th>TTFT p50</th><th>p95</th><th>tokens/s</th></tr>"
    "{rows}</table>"
)


def _inference_row(m: ModelView) -> str:
    return (
        f'<tr data-model="{escape(m.model)}" data-state="{m.state.value}">'
        f"<td>{escape(m.model)}</td>"
        f'<td class="{m.state.value}"><span class="pill" title="{escape(reason_text(m.reason))}">'
        f"{m.state.value}</span></td>"
        f'<td class="n">{_duration(m.ttft_p50)}</td><td class="n">{_duration(m.ttft_p95)}</td>'
        f'<td class="n">{_rate(m.tokens_per_second_p50)}</td></tr>'
    )


def _rate(per_second: float | None) -> str:
    return NO_DATA if per_second is None else f"{per_second:.0f}"


def sparkline(minutes: Sequence[tuple[int, float | None, float | None]]) -> str:
    """Return an inline SVG of the last hour: a bar per minute coloured by availability, and a
    line of the mean latency (scaled to the hour's maximum)."""
    count = max(len(minutes), 1)
    width, height, bar_top = 240.0, 44.0, 34.0
    step = width / count
    slowest = max((lat for _, _, lat in minutes if lat is not None), default=0.0)
    bars, points = [], []
    for i, (start, availability, latency) in enumerate(minutes):
        x = i * step
        bars.append(
            f'<rect class="{_bar_class(availability)}" x="{x:.1f}" y="{bar_top}" '
            f'width="{max(step - 0.8, 0.5):.1f}" height="{height - bar_top}">'
            f"<title>{_clock(start)} UTC: {_percent_text(availability)}, "
            f"{_duration_text(latency)}</title></rect>"
        )
        if latency is not None and slowest > 0:
            y = (bar_top - 3) - (latency / slowest) * (bar_top - 6)
            points.append(f"{x + step / 2:.1f},{y:.1f}")
    line = f'<polyline class="lat" points="{" ".join(points)}"/>' if len(points) > 1 else ""
    label = f"last hour; slowest minute {_duration_text(slowest or None)}"
    return (
        f'<div class="trend"><svg class="spark" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'preserveAspectRatio="none" role="img" aria-label="{label}">{"".join(bars)}{line}</svg>'
        f'<div class="axis"><span>60 min ago</span><span>latency, availability</span>'
        f"<span>now</span></div></div>"
    )


def _bar_class(availability: float | None) -> str:
    if availability is None:
        return "gap"
    if availability >= 1.0:
        return "ok"
    return "bad" if availability <= 0.0 else "part"


def _percent_text(ratio: float | None) -> str:
    if ratio is None:
        return "no data"
    if ratio >= 1.0:
        return "100 %"
    # Truncated, not rounded: 99.96 % must not show as "100 %".
    return f"{math.floor(ratio * 1000) / 10:.1f} %"


def _exact(value: float | None) -> str:
    return "no data" if value is None else f"{value:.6g}"


def _percent(ratio: float | None) -> str:
    return NO_DATA if ratio is None else _percent_text(ratio)


def _duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "no data"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _duration(seconds: float | None) -> str:
    return NO_DATA if seconds is None else _duration_text(seconds)


def _clock(at: float) -> str:
    moment = iso_time(at) or ""
    return moment[11:19] if len(moment) >= 19 else moment


def _age(now: float, at: float) -> str:
    """Return how long ago `at` was ('12 s', '3 min') with the exact time as a tooltip."""
    seconds = max(0.0, now - at)
    if seconds < 90:
        text = f"{seconds:.0f} s"
    elif seconds < 90 * 60:
        text = f"{seconds / 60:.0f} min"
    elif seconds < 48 * 3600:
        text = f"{seconds / 3600:.1f} h"
    else:
        text = f"{seconds / 86400:.0f} d"
    return f'<time datetime="{iso_time(at)}" title="{iso_time(at)}">{text}</time>'


def _ago(now: float, at: float | None) -> str:
    if at is None:
        return '<span class="none">never</span>'
    return f"{_age(now, at)} ago"


def add_page_route(
    app: web.Application, get_snapshot: Callable[[], Snapshot], clock: Callable[[], float]
) -> None:
    """Register the status page at `GET /`."""

    async def page(request: web.Request) -> web.Response:
        token = request.query.get("token")
        query = f"?{urlencode({'token': token})}" if token else ""
        body = render_page(get_snapshot(), clock(), query)
        return web.Response(
            body=body.encode(errors="replace"),  # whatever a value holds, the page renders
            content_type="text/html",
            charset="utf-8",
            headers=PAGE_HEADERS,
        )

    app.router.add_get("/", page)


PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    # No script, no external resource: only the inline stylesheet may load.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
}


UNAUTHORIZED = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>Token needed</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;
padding:0 1rem}</style>
</head><body>
<h1>Token needed</h1>
<p>This exporter is protected by <code>METRICS_AUTH_TOKEN</code>. Open
<code>/?token=&lt;token&gt;</code>, or send <code>Authorization: Bearer &lt;token&gt;</code>.</p>
<p>A token in the address ends up in browser history and proxy logs: prefer the header where you
can, and rotate the token if such a URL leaks.</p></body></html>
"""


def unauthorized_page() -> web.Response:
    """Return the 401 page a browser gets at `/` without a valid token."""
    return web.Response(
        text=UNAUTHORIZED,
        status=401,
        content_type="text/html",
        headers={**PAGE_HEADERS, "WWW-Authenticate": 'Bearer realm="provider-exporter"'},
    )
