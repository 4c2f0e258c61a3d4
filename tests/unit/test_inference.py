"""Inference probes as pure logic: each dialect's request and stream, the daily token budget, and
how a probed model's state moves it and its provider, table-driven with explicit `now`."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.catalog import BUILTIN, AuthStyle, Dialect, ProviderSpec
from exporter.judgement.model_tracks import ModelTrack
from exporter.judgement.monitor import Monitor, Transition
from exporter.judgement.scoring import Evidence, Health, Rules, State, overlay_inference, step
from exporter.judgement.snapshot import ModelView
from exporter.outcomes import Outcome, Verdict
from exporter.probing import dialects
from exporter.probing.budget import TokenBudget
from exporter.probing.dialects import (
    PROMPT,
    PROMPT_TOKENS,
    BadStreamError,
    Event,
    Quirks,
    SseParser,
    adjust,
    build_request,
    limit_reached,
    read_event,
)
from exporter.probing.inference import InferenceResult
from exporter.probing.probes import ProbeResult
from exporter.settings import Settings, load_settings
from exporter.targets import GoogleAccount, Target, resolve_targets
from tests.integration.test_vertex import service_account

OPENAI, ANTHROPIC, VERTEX = Dialect.OPENAI, Dialect.ANTHROPIC, Dialect.VERTEX
DIALECTS = (OPENAI, ANTHROPIC, VERTEX)
SPECS = {spec.slug: spec for spec in BUILTIN}
MAX_TOKENS = 8
RESERVED = PROMPT_TOKENS + MAX_TOKENS  # what a probe reserves before its provider reported


def result(outcome: Outcome = Outcome.OK, **fields: Any) -> InferenceResult:
    """Return an inference result of model `m` of provider `p` (fields override)."""
    base: dict[str, Any] = {"slug": "p", "model": "m", "started": 0.0, "duration": 0.1}
    return InferenceResult(outcome=outcome, **(base | fields))


# --- Requests: one per dialect --------------------------------------------------------------


def one_target(slug: str, env: dict[str, str]) -> Target:
    (resolved,) = resolve_targets(load_settings(), env)
    assert resolved.slug == slug
    return resolved


def test_openai_request_is_a_streamed_chat_completion_with_usage() -> None:
    """An OpenAI-compatible provider gets POST {base}/chat/completions: the fixed prompt, streamed,
    max_tokens, temperature 0, and the token counts asked for in the last chunk."""
    groq = one_target("groq", {"GROQ_API_KEY": "k"})
    request = build_request(groq, "llama-3.1-8b", MAX_TOKENS, Quirks())
    assert request.url == "https://api.groq.com/openai/v1/chat/completions"
    assert request.body == {
        "model": "llama-3.1-8b",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "stream_options": {"include_usage": True},
    }


def test_openai_request_follows_a_base_url_override() -> None:
    """{SLUG}_BASE_URL (with or without a trailing slash) is where completions are sent."""
    env = {"GROQ_API_KEY": "k", "GROQ_BASE_URL": "http://127.0.0.1:9/v1/"}
    request = build_request(one_target("groq", env), "m", MAX_TOKENS, Quirks())
    assert request.url == "http://127.0.0.1:9/v1/chat/completions"


@pytest.mark.parametrize(
    ("quirks", "present", "absent"),
    [
        (Quirks(max_completion_tokens=True), {"max_completion_tokens"}, {"max_tokens"}),
        (Quirks(no_temperature=True), {"max_tokens", "stream_options"}, {"temperature"}),
        (Quirks(no_stream_options=True), {"temperature"}, {"stream_options"}),
        (
            Quirks(True, True, True),
            {"max_completion_tokens", "stream", "model", "messages"},
            {"max_tokens", "temperature", "stream_options"},
        ),
    ],
)
def test_openai_request_leaves_out_what_the_pair_refused(
    quirks: Quirks, present: set[str], absent: set[str]
) -> None:
    """A learned quirk changes only its own field of the request."""
    body = build_request(one_target("groq", {"GROQ_API_KEY": "k"}), "m", 5, quirks).body
    assert present <= body.keys() and not absent & body.keys()
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    assert limit == 5


def test_anthropic_request_goes_to_messages_with_max_tokens() -> None:
    """Anthropic gets POST {base}/messages with max_tokens and no OpenAI-only fields."""
    anthropic = one_target("anthropic", {"ANTHROPIC_API_KEY": "k"})
    request = build_request(anthropic, "claude-haiku", MAX_TOKENS, Quirks())
    assert request.url == "https://api.anthropic.com/v1/messages"
    assert request.body == {
        "model": "claude-haiku",
        "max_tokens": MAX_TOKENS,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
        "temperature": 0,
    }


def test_anthropic_request_drops_only_a_refused_temperature() -> None:
    """Of the learned quirks only a refused temperature applies to Anthropic: it keeps
    max_tokens (its required field) whatever was learned."""
    anthropic = one_target("anthropic", {"ANTHROPIC_API_KEY": "k"})
    learned = build_request(anthropic, "claude-haiku", MAX_TOKENS, Quirks(True, True, True))
    assert learned.body.keys() == {"model", "max_tokens", "messages", "stream"}
    assert learned.body["max_tokens"] == MAX_TOKENS


def test_vertex_request_names_project_location_and_model() -> None:
    """Vertex gets the regional streamGenerateContent?alt=sse URL of the configured project,
    with generationConfig.maxOutputTokens."""
    env = {
        "GOOGLE_VERTEX_CREDENTIALS_JSON": service_account("http://127.0.0.1:9/token"),
        "GOOGLE_VERTEX_LOCATION": "europe-west4",
        "GOOGLE_PROJECT_ID": "my-proj",
    }
    request = build_request(one_target("google-vertex", env), "gemini-2.0-flash", 8, Quirks())
    assert request.url == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/my-proj/locations/"
        "europe-west4/publishers/google/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
    )
    assert request.body == {
        "contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
        "generationConfig": {"maxOutputTokens": 8, "temperature": 0},
    }


def test_vertex_request_escapes_the_model_id_and_honours_no_temperature() -> None:
    """A model id cannot add path segments to the URL; a refused temperature is left out."""
    spec = SPECS["google-vertex"]
    vertex = Target(
        spec,
        "unused",
        GoogleAccount(info={}, project_id="p"),
        base="https://us-central1-aiplatform.googleapis.com/v1",
        location="us-central1",
    )
    request = build_request(vertex, "../gemini@001", 4, Quirks(no_temperature=True))
    assert request.url.endswith("/models/..%2Fgemini%40001:streamGenerateContent?alt=sse")
    assert request.body["generationConfig"] == {"maxOutputTokens": 4}


# --- Learning what a 400 refused ------------------------------------------------------------

MAX_TOKENS_REFUSED = (
    "Unsupported parameter: 'max_tokens' is not supported with this model. "
    "Use 'max_completion_tokens' instead."
)
TEMPERATURE_REFUSED = (
    "Unsupported value: 'temperature' does not support 0 with this model. "
    "Only the default (1) value is supported."
)
STREAM_OPTIONS_REFUSED = "Unrecognized request argument supplied: stream_options"


@pytest.mark.parametrize(
    ("dialect", "text", "quirks", "learned"),
    [
        (OPENAI, MAX_TOKENS_REFUSED, Quirks(), Quirks(max_completion_tokens=True)),
        (OPENAI, TEMPERATURE_REFUSED, Quirks(), Quirks(no_temperature=True)),
        (ANTHROPIC, TEMPERATURE_REFUSED, Quirks(), Quirks(no_temperature=True)),
        (VERTEX, "temperature is not supported for this model", Quirks(), Quirks(False, True)),
        (OPENAI, STREAM_OPTIONS_REFUSED, Quirks(), Quirks(no_stream_options=True)),
        # learned ones are kept
        (
            OPENAI,
            TEMPERATURE_REFUSED,
            Quirks(max_completion_tokens=True),
            Quirks(max_completion_tokens=True, no_temperature=True),
        ),
        # already learned: nothing more would help
        (OPENAI, MAX_TOKENS_REFUSED, Quirks(max_completion_tokens=True), None),
        (OPENAI, TEMPERATURE_REFUSED, Quirks(no_temperature=True), None),
        (OPENAI, STREAM_OPTIONS_REFUSED, Quirks(no_stream_options=True), None),
        # OpenAI-only fields are never "learned" for the other dialects
        (ANTHROPIC, MAX_TOKENS_REFUSED, Quirks(), None),
        (VERTEX, STREAM_OPTIONS_REFUSED, Quirks(), None),
        # a 400 that refuses nothing we can leave out
        (OPENAI, "temperature must be between 0 and 2", Quirks(), None),
        (OPENAI, "The model `x` does not exist", Quirks(), None),
        (OPENAI, "", Quirks(), None),
    ],
)
def test_adjust_learns_what_a_400_refused(
    dialect: Dialect, text: str, quirks: Quirks, learned: Quirks | None
) -> None:
    """A 400 naming a field we can drop changes the next request; otherwise adjust says None."""
    assert adjust(dialect, text, quirks) == learned


WORDS = st.sampled_from(
    [
        *("max_completion_tokens", "temperature", "stream_options", "max_tokens", "unsupported"),
        *("not supported", "does not support", "only the default", "error", " ", "'"),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    dialect=st.sampled_from(DIALECTS),
    text=st.lists(WORDS | st.text(max_size=6), max_size=12).map("".join),
)
def test_adjust_never_retries_forever(dialect: Dialect, text: str) -> None:
    """Whatever a provider keeps answering, each retry drops a new field: at most 3 retries."""
    quirks: Quirks | None = Quirks()
    retries = 0
    while quirks is not None:
        learned = adjust(dialect, text, quirks)
        if learned is not None:
            assert learned != quirks
            retries += 1
        quirks = learned
    assert retries <= 3


@pytest.mark.parametrize(
    ("text", "reached"),
    [
        ("Could not finish the message because max_tokens or model output limit was reached", True),
        ("max_tokens reached", True),
        ("Request exceeded the output token limit", True),
        ("Generation stopped: reached the maximum number of tokens", True),
        ("max_tokens must be at least 1", False),
        ("Invalid API key", False),
        ("", False),
    ],
)
def test_limit_reached_tells_a_live_model_from_a_refusal(text: str, reached: bool) -> None:
    """A 400 saying the output limit was reached means the model answered: it counts as ok."""
    assert limit_reached(text) is reached


# --- Reading each dialect's events ----------------------------------------------------------


def read(dialect: Dialect, payload: object, name: str = "") -> Event:
    return read_event(dialect, name, json.dumps(payload))


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"choices": [{"delta": {"role": "assistant", "content": ""}}]}, Event()),
        ({"choices": [{"delta": {"content": "ok"}, "finish_reason": None}]}, Event("ok")),
        ({"choices": [{"delta": {"reasoning_content": "hmm"}}]}, Event("hmm")),
        ({"choices": [{"delta": {"reasoning": "hmm"}}]}, Event("hmm")),
        ({"choices": [{"delta": {}, "finish_reason": "length"}]}, Event(finished=True)),
        (
            {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 2}},
            Event(input_tokens=12, output_tokens=2),
        ),
        (
            {
                "choices": [{"delta": {"content": "k"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 12, "completion_tokens": 0},
            },
            Event("k", finished=True, input_tokens=12, output_tokens=0),
        ),
    ],
)
def test_openai_chunks(payload: dict[str, Any], expected: Event) -> None:
    """Content and visible-reasoning deltas are output; finish_reason and usage are read."""
    assert read(OPENAI, payload) == expected


@pytest.mark.parametrize("data", ["[DONE]", " [DONE]\n"])
def test_openai_done_ends_the_stream(data: str) -> None:
    """`data: [DONE]` is the OpenAI end of stream."""
    assert read_event(OPENAI, "", data) == Event(done=True)


@pytest.mark.parametrize(
    ("name", "payload", "expected"),
    [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {"usage": {"input_tokens": 14, "output_tokens": 1}},
            },
            Event(input_tokens=14),
        ),
        ("content_block_start", {"type": "content_block_start", "index": 0}, Event()),
        (
            "content_block_delta",
            {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "ok"}},
            Event("ok"),
        ),
        (
            "content_block_delta",
            {"type": "content_block_delta", "delta": {"type": "thinking_delta", "thinking": "h"}},
            Event("h"),
        ),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "max_tokens"},
                "usage": {"output_tokens": 8},
            },
            Event(finished=True, output_tokens=8),
        ),
        ("message_stop", {"type": "message_stop"}, Event(finished=True, done=True)),
        ("ping", {"type": "ping"}, Event()),
    ],
)
def test_anthropic_events(name: str, payload: dict[str, Any], expected: Event) -> None:
    """Input tokens come with message_start, text with deltas, output tokens and the stop reason
    with message_delta; message_stop ends the stream; a ping says nothing."""
    assert read(ANTHROPIC, payload, name) == expected


def test_anthropic_error_event_is_a_bad_stream() -> None:
    """An `event: error` (overloaded mid-stream) fails the probe as a stream error."""
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(BadStreamError):
        read(ANTHROPIC, error, "error")
    with pytest.raises(BadStreamError):
        read(ANTHROPIC, {"type": "overloaded"}, "error")


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}}]}, Event("ok")),
        ({"candidates": [{"content": {"parts": [{"text": "o"}, {"text": "k"}]}}]}, Event("ok")),
        (
            {
                "candidates": [
                    {"content": {"parts": [{"text": ""}]}, "finishReason": "MAX_TOKENS"}
                ],
                "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 1},
            },
            Event(finished=True, input_tokens=8, output_tokens=1),
        ),
        (
            {
                "usageMetadata": {
                    "promptTokenCount": 8,
                    "candidatesTokenCount": 1,
                    "thoughtsTokenCount": 20,
                }
            },
            Event(input_tokens=8, output_tokens=21),
        ),
        ({"usageMetadata": {"thoughtsTokenCount": 20}}, Event(output_tokens=20)),
    ],
)
def test_vertex_chunks(payload: dict[str, Any], expected: Event) -> None:
    """Parts' text is output, finishReason ends the answer, thinking tokens count as output."""
    assert read(VERTEX, payload) == expected


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(
    "data",
    [
        "not json",
        '{"choices": [',
        "[1, 2]",
        '"ok"',
        "42",
        "null",
        '{"error": {"message": "Internal error", "code": 500}}',
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=["text", "cut", "list", "string", "number", "null", "error", "deep"],
)
def test_malformed_events_are_bad_streams(dialect: Dialect, data: str) -> None:
    """Anything but a JSON object, and an object carrying `error`, is a stream error."""
    with pytest.raises(BadStreamError):
        read_event(dialect, "", data)


@pytest.mark.parametrize(
    ("dialect", "name", "payload"),
    [
        (OPENAI, "", {"choices": "x", "usage": "x"}),
        (OPENAI, "", {"choices": [1, None, "a", []], "usage": []}),
        (OPENAI, "", {"choices": [{"delta": "ok"}, {"delta": {"content": 5}}]}),
        (OPENAI, "", {"choices": [{"delta": {"content": ["o", "k"], "reasoning": {"t": "x"}}}]}),
        (OPENAI, "", {"usage": {"prompt_tokens": "12", "completion_tokens": True}}),
        (OPENAI, "", {"usage": {"prompt_tokens": -1, "completion_tokens": 1.5}}),
        (OPENAI, "", {"usage": {"prompt_tokens": 10**9, "completion_tokens": None}}),
        (OPENAI, "", {"usage": {"prompt_tokens": float("nan"), "completion_tokens": 1e400}}),
        (ANTHROPIC, "message_start", {"type": "message_start", "message": "x"}),
        (ANTHROPIC, "message_start", {"type": "message_start", "message": {"usage": [14]}}),
        (
            ANTHROPIC,
            "message_start",
            {"type": "message_start", "message": {"usage": {"input_tokens": "14"}}},
        ),
        (ANTHROPIC, "", {"type": "content_block_delta", "delta": "ok"}),
        (ANTHROPIC, "", {"type": "content_block_delta", "delta": {"text": 5, "thinking": "x"}}),
        (ANTHROPIC, "", {"type": "message_delta", "delta": [], "usage": {"output_tokens": -3}}),
        (ANTHROPIC, "", {"type": "message_delta", "usage": "8"}),
        (ANTHROPIC, "", {"type": ["message_stop"]}),
        (ANTHROPIC, "", {"type": None}),
        (VERTEX, "", {"candidates": {}, "usageMetadata": []}),
        (VERTEX, "", {"candidates": [None, 1, {"content": "ok"}, {"content": {"parts": "ok"}}]}),
        (VERTEX, "", {"candidates": [{"content": {"parts": [1, {"text": 5}, None]}}]}),
        (VERTEX, "", {"usageMetadata": {"promptTokenCount": "8", "candidatesTokenCount": -1}}),
        (
            VERTEX,
            "",
            {"usageMetadata": {"thoughtsTokenCount": True, "candidatesTokenCount": False}},
        ),
    ],
)
def test_odd_types_give_no_text_and_no_counts(
    dialect: Dialect, name: str, payload: dict[str, Any]
) -> None:
    """Strings, bools, negatives and nested garbage where text or counts belong are ignored:
    no crash, no output, no bogus token count."""
    event = read(dialect, payload, name)
    assert (event.text, event.input_tokens, event.output_tokens) == ("", None, None)


VOCABULARY = [
    *("choices", "delta", "content", "reasoning_content", "reasoning", "finish_reason", "usage"),
    *("prompt_tokens", "completion_tokens", "type", "message", "input_tokens", "output_tokens"),
    *("text", "thinking", "stop_reason", "candidates", "parts", "finishReason", "usageMetadata"),
    *("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "message_start"),
    *("content_block_delta", "message_delta", "message_stop"),
]
# Leaves that are no plausible token count: whatever the shape, no count may come out.
NOT_A_COUNT = (
    st.none()
    | st.booleans()
    | st.integers(max_value=-1)
    | st.integers(min_value=10**9)
    | st.floats()
    | st.sampled_from(VOCABULARY)
    | st.text(max_size=5)
)
GARBAGE = st.recursive(
    NOT_A_COUNT,
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.dictionaries(st.sampled_from(VOCABULARY) | st.text(max_size=3), kids, max_size=5)
    ),
    max_leaves=30,
)
NAMES = st.sampled_from(["", "message_start", "content_block_delta", "message_delta", "ping"])


@settings(max_examples=500, deadline=None)
@given(dialect=st.sampled_from(DIALECTS), name=NAMES, payload=GARBAGE)
def test_garbage_never_crashes_nor_counts(dialect: Dialect, name: str, payload: object) -> None:
    """Whatever JSON a provider streams, reading it raises BadStreamError or gives an event
    with text and without any token count (none of its numbers is a plausible one)."""
    try:
        event = read(dialect, payload, name)
    except BadStreamError:
        return
    assert isinstance(event.text, str)
    assert (event.input_tokens, event.output_tokens) == (None, None)


@settings(max_examples=300, deadline=None)
@given(dialect=st.sampled_from(DIALECTS), name=NAMES, data=st.text(max_size=40))
def test_any_text_is_an_event_or_a_bad_stream(dialect: Dialect, name: str, data: str) -> None:
    """Arbitrary event data never raises anything but BadStreamError."""
    try:
        event = read_event(dialect, name, data)
    except BadStreamError:
        return
    for count in (event.input_tokens, event.output_tokens):
        assert count is None or (type(count) is int and count >= 0)


# --- Server-sent events ---------------------------------------------------------------------


def parse_all(*chunks: bytes) -> list[tuple[str, str]]:
    parser = SseParser()
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    return events + parser.close()


@pytest.mark.parametrize(
    ("stream", "events"),
    [
        (b"data: hello\n\n", [("", "hello")]),
        (b"data:hello\n\n", [("", "hello")]),
        (b"data:  two spaces\n\n", [("", " two spaces")]),  # only one space is the separator
        (b"event: message_start\ndata: {}\n\ndata: x\n\n", [("message_start", "{}"), ("", "x")]),
        (b"data: a\ndata: b\ndata\n\n", [("", "a\nb\n")]),
        (b": keep-alive\n\n: another\ndata: x\n\n", [("", "x")]),
        (b"event: e\r\ndata: x\r\n\r\n", [("e", "x")]),
        (b"id: 7\nretry: 100\nfoo: bar\ndata: x\n\n", [("", "x")]),
        (b"event: ping\n\ndata: x\n\n", [("", "x")]),  # an event without data is not one
        (b"\n\n\n", []),
        (b"data: caf\xc3\xa9 \xe2\x82\xac\n\n", [("", "café €")]),
    ],
)
def test_sse_events(stream: bytes, events: list[tuple[str, str]]) -> None:
    """Events as the SSE spec reads them: names, joined data lines, comments, CRLF, odd fields."""
    assert parse_all(stream) == events


def test_sse_event_without_closing_blank_line_comes_at_close() -> None:
    """A stream that ends right after its last data line still yields that event, once."""
    parser = SseParser()
    assert parser.feed(b"data: a\n\ndata: last") == [("", "a")]
    assert parser.close() == [("", "last")]
    assert parse_all(b"event: message_stop\ndata: {}\r\n") == [("message_stop", "{}")]
    assert parse_all(b"") == []


ANTHROPIC_STREAM = (
    b'event: message_start\r\ndata: {"type": "message_start"}\r\n\r\n'
    b": keep-alive\r\n\r\n"
    b'event: content_block_delta\r\ndata: {"text": "caf\xc3\xa9"}\r\n\r\n'
    b"data: line one\ndata: line two\n\n"
    b"event: message_stop\ndata: {}\n\n"
)


def test_sse_event_split_anywhere_reads_the_same() -> None:
    """However the network cuts the bytes (inside a CRLF or a UTF-8 character), the events are
    the same as from one chunk."""
    whole = parse_all(ANTHROPIC_STREAM)
    assert len(whole) == 4 and whole[1] == ("content_block_delta", '{"text": "café"}')
    for cut in range(len(ANTHROPIC_STREAM) + 1):
        assert parse_all(ANTHROPIC_STREAM[:cut], ANTHROPIC_STREAM[cut:]) == whole, cut


LINE = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=12)
SSE_EVENTS = st.lists(st.tuples(LINE, st.lists(LINE, min_size=1, max_size=3)), max_size=5)


@settings(max_examples=300, deadline=None)
@given(events=SSE_EVENTS, crlf=st.booleans(), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_sse_any_events_any_chunking(
    events: list[tuple[str, list[str]]], crlf: bool, cuts: list[int]
) -> None:
    """Encoded events come back as they were, whatever the chunking and line endings."""
    end = b"\r\n" if crlf else b"\n"
    stream = b"".join(
        (b"event: " + name.encode() + end if name else b"")
        + b"".join(b"data: " + line.encode() + end for line in lines)
        + end
        for name, lines in events
    )
    points = sorted({min(cut, len(stream)) for cut in cuts})
    chunks = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    assert parse_all(*chunks) == [(name, "\n".join(lines)) for name, lines in events]


# --- The daily token budget -----------------------------------------------------------------

DAY = 86_400.0


def test_reservation_holds_the_most_a_probe_may_cost() -> None:
    """A probe reserves the prompt's bound plus INFERENCE_MAX_OUTPUT_TOKENS, held until settled."""
    budget = TokenBudget(1000, MAX_TOKENS, 0.0)
    assert budget.reserve("pair", 0.0) == RESERVED
    assert budget.remaining(0.0) == 1000 - RESERVED


def test_concurrent_reservations_are_all_held() -> None:
    """Probes in flight together can never cross the budget: the one that could is not sent."""
    budget = TokenBudget(2 * RESERVED + RESERVED - 1, MAX_TOKENS, 0.0)
    assert budget.reserve("a", 0.0) == RESERVED
    assert budget.reserve("b", 0.0) == RESERVED
    assert budget.reserve("c", 0.0) is None
    assert budget.remaining(0.0) == RESERVED - 1


def test_a_probe_that_would_just_fit_is_sent() -> None:
    """Reaching the budget exactly is allowed; one token more is not."""
    assert TokenBudget(RESERVED, MAX_TOKENS, 0.0).reserve("a", 0.0) == RESERVED
    assert TokenBudget(RESERVED - 1, MAX_TOKENS, 0.0).reserve("a", 0.0) is None
    assert TokenBudget(0, MAX_TOKENS, 0.0).reserve("a", 0.0) is None


@pytest.mark.parametrize(
    ("probe", "cost"),
    [
        (result(streamed=True, reported=True, input_tokens=12, output_tokens=8), 20),
        (result(streamed=True, reported=True, input_tokens=12, output_tokens=0), 12),
        # a completion began but its counts never came (or only some did): it may have been billed
        (result(streamed=True, output_tokens=3), RESERVED),
        (result(streamed=True, reported=True, output_tokens=3), RESERVED),
        (result(Outcome.STREAM_ERROR, streamed=True), RESERVED),
        (result(Outcome.TIMEOUT), RESERVED),
        (None, RESERVED),  # cancelled: nobody knows
        # refused before any completion began
        (result(Outcome.HTTP_5XX, status=503), 0),
        (result(Outcome.HTTP_429, status=429), 0),
        (result(Outcome.CONNECT_ERROR), 0),
        (result(status=400, detail="token limit: alive"), 0),
    ],
)
def test_settle_charges_what_the_probe_cost(probe: InferenceResult | None, cost: int) -> None:
    """The reservation becomes the provider's counts, all of it when unknown, nothing if refused."""
    budget = TokenBudget(1000, MAX_TOKENS, 0.0)
    reserved = budget.reserve("pair", 0.0)
    assert reserved is not None
    assert budget.settle("pair", reserved, probe, 1.0) == cost
    assert budget.remaining(1.0) == 1000 - cost


@pytest.mark.parametrize(("reported", "estimate"), [(100, 100 + MAX_TOKENS), (10, RESERVED)])
def test_estimate_follows_the_providers_input_count(reported: int, estimate: int) -> None:
    """A provider counting more input tokens than the prompt's bound is reserved that much next."""
    budget = TokenBudget(10_000, MAX_TOKENS, 0.0)
    reserved = budget.reserve("pair", 0.0)
    assert reserved is not None
    probe = result(streamed=True, reported=True, input_tokens=reported, output_tokens=2)
    budget.settle("pair", reserved, probe, 1.0)
    assert budget.estimate("pair") == estimate
    assert budget.estimate("other") == RESERVED
    assert budget.reserve("pair", 2.0) == estimate


def test_the_day_rolls_at_utc_midnight() -> None:
    """What was spent today is forgotten at 00:00 UTC, not 24 hours after start-up."""
    start = 10 * DAY + 80_000.0
    budget = TokenBudget(100, MAX_TOKENS, start)
    reserved = budget.reserve("pair", start)
    assert reserved is not None
    budget.settle("pair", reserved, None, start)
    assert budget.remaining(11 * DAY - 0.001) == 100 - RESERVED
    assert budget.remaining(11 * DAY) == 100


def test_a_probe_over_midnight_is_charged_to_the_new_day_and_held_meanwhile() -> None:
    """A reservation made before midnight is still held after it, and its cost lands in the new
    day; the old day's spending is gone."""
    budget = TokenBudget(100, MAX_TOKENS, DAY - 10)
    first = budget.reserve("a", DAY - 10)
    assert first is not None
    budget.settle("a", first, None, DAY - 9)
    held = budget.reserve("b", DAY - 1)
    assert held is not None
    assert budget.remaining(DAY + 1) == 100 - RESERVED
    probe = result(streamed=True, reported=True, input_tokens=10, output_tokens=5)
    budget.settle("b", held, probe, DAY + 2)
    assert budget.remaining(DAY + 2) == 100 - 15


def test_remaining_is_never_negative() -> None:
    """A provider that bills more than it was asked for leaves 0 remaining, not a negative."""
    budget = TokenBudget(100, MAX_TOKENS, 0.0)
    reserved = budget.reserve("pair", 0.0)
    assert reserved is not None
    probe = result(streamed=True, reported=True, input_tokens=10, output_tokens=5000)
    assert budget.settle("pair", reserved, probe, 1.0) == 5010
    assert budget.remaining(1.0) == 0
    assert budget.reserve("pair", 2.0) is None


# --- A provider's state with its models' ----------------------------------------------------

UP, DOWN, DEG, UNK = State.HEALTHY, State.DOWN, State.DEGRADED, State.UNKNOWN


@pytest.mark.parametrize(
    ("own", "models", "shown"),
    [
        (Health(UP, 1.0, "ok"), [], (UP, "ok")),
        (Health(UP, 1.0, "ok"), [UP, DEG, UNK], (UP, "ok")),
        (Health(UP, 1.0, "ok"), [DOWN], (DOWN, "inference_down")),
        (Health(DEG, 1.0, "slow"), [DOWN, DOWN], (DOWN, "inference_down")),
        (Health(UP, 1.0, "ok"), [DOWN, UP], (DEG, "inference_partly_down")),
        (Health(UP, 1.0, "ok"), [DOWN, UNK], (DEG, "inference_partly_down")),
        (Health(DEG, 1.0, "slow"), [UP, DOWN], (DEG, "slow,inference_partly_down")),
        (Health(DOWN, 1.0, "timeout"), [DOWN], (DOWN, "timeout")),
        (Health(DOWN, 1.0, "timeout"), [UP], (DOWN, "timeout")),
        (Health(UNK, 1.0, "no probe yet"), [DOWN], (UNK, "no probe yet")),
        (Health(State.UNCONFIGURED, 1.0, "no key"), [DOWN], (State.UNCONFIGURED, "no key")),
    ],
)
def test_models_down_make_their_provider_worse(
    own: Health, models: list[State], shown: tuple[State, str]
) -> None:
    """All probed models down while the model list answers: down; some: degraded; a provider
    already down, unknown or unconfigured shows its own state."""
    overlaid = overlay_inference(own, models, own, 5.0)
    assert (overlaid.state, overlaid.reason) == shown


def test_overlay_keeps_the_providers_counters() -> None:
    """The overlay changes what is shown, not the provider's own consecutive counts."""
    own = Health(UP, 1.0, "ok", failures=2, answers=7)
    overlaid = overlay_inference(own, [DOWN], own, 5.0)
    assert (overlaid.failures, overlaid.answers) == (2, 7)


@pytest.mark.parametrize(
    ("own", "models", "shown", "since"),
    [
        # unchanged as shown: the shown state's start, though the provider's own began earlier
        (Health(UP, 1.0, "ok"), [DOWN], Health(DOWN, 20.0, "inference_down"), 20.0),
        (Health(DEG, 25.0, "slow"), [DOWN], Health(DOWN, 20.0, "inference_down"), 20.0),
        (Health(UP, 1.0, "ok"), [DOWN, UP], Health(DEG, 20.0, "inference_partly_down"), 20.0),
        # changed as shown: now, even back to the provider's own state that began long ago
        (Health(UP, 1.0, "ok"), [DOWN], Health(UP, 1.0, "ok"), 30.0),
        (Health(UP, 1.0, "ok"), [UP], Health(DOWN, 20.0, "inference_down"), 30.0),
        (Health(UP, 1.0, "ok"), [DOWN, UP], Health(DOWN, 20.0, "inference_down"), 30.0),
    ],
)
def test_since_is_when_the_shown_state_began(
    own: Health, models: list[State], shown: Health, since: float
) -> None:
    """`since` keeps the shown state's start while it holds and is `now` when it changes."""
    assert overlay_inference(own, models, shown, 30.0).since == since


MODEL_RULES = Rules(min_throughput=10.0)


@pytest.mark.parametrize(
    ("start", "throughput", "state", "reason"),
    [
        (UP, 9.9, DEG, "slow_tokens"),
        (UP, 10.0, UP, "ok"),
        (UP, None, UP, "ok"),
        # hysteresis: leaving needs 10 / 0.8 = 12.5 tokens/s
        (DEG, 12.4, DEG, "slow_tokens"),
        (DEG, 12.5, UP, "ok"),
    ],
)
def test_slow_tokens_with_hysteresis(
    start: State, throughput: float | None, state: State, reason: str
) -> None:
    """Below INFERENCE_MIN_TOKENS_PER_SECOND a model is degraded (slow_tokens); it leaves only at
    or above min / 0.8, so a model hovering at the floor does not flap."""
    prev = Health(start, 0.0, "slow_tokens" if start is DEG else "ok")
    evidence = Evidence(throughput_recent=throughput)
    new = step(prev, Verdict.UP, "ok", evidence, MODEL_RULES, 1.0)
    assert (new.state, new.reason) == (state, reason)


def test_no_floor_means_no_slow_tokens() -> None:
    """INFERENCE_MIN_TOKENS_PER_SECOND=0 turns the check off; list probes never have one."""
    off = Rules.for_models(Settings(inference_min_tokens_per_second=0))
    assert off.min_throughput is None
    crawl = Evidence(throughput_recent=0.01)
    for rules in (off, Rules()):
        assert step(Health(UP, 0.0, "ok"), Verdict.UP, "ok", crawl, rules, 1.0).state is UP


# --- One model's bookkeeping ----------------------------------------------------------------

HOUR = 3600.0


def answered(ttft: float = 0.5, tps: float | None = 50.0, **fields: Any) -> InferenceResult:
    """Return a successful probe that streamed and reported its counts."""
    counts = {"input_tokens": 12, "output_tokens": 8, "reported": True, "streamed": True}
    return result(status=200, ttft=ttft, tokens_per_second=tps, **(counts | fields))


@pytest.mark.parametrize(
    ("probe", "verdict", "up", "down"),
    [
        (answered(), Verdict.UP, 1, 0),
        (result(status=400, detail="token limit: alive"), Verdict.UP, 1, 0),
        (result(Outcome.HTTP_5XX, status=503), Verdict.DOWN, 0, 1),
        (result(Outcome.STREAM_ERROR, status=200, streamed=True), Verdict.DOWN, 0, 1),
        (result(Outcome.EMPTY_COMPLETION, status=200, streamed=True), Verdict.DOWN, 0, 1),
        (result(Outcome.HTTP_429, status=429), Verdict.LIMITED, 0, 0),
        (result(Outcome.HTTP_AUTH, status=401), Verdict.REJECTED, 0, 0),
        (result(Outcome.HTTP_4XX, status=404), Verdict.INCONCLUSIVE, 0, 0),
    ],
)
def test_count_sorts_probes_into_checks(
    probe: InferenceResult, verdict: Verdict, up: int, down: int
) -> None:
    """Every probe is counted by outcome; only answers and failures are checks (429 and 401 are
    neither, as for list probes)."""
    track = ModelTrack("m", True, 0.0)
    assert track.count(probe, 1.0) is verdict
    view = track.view(1.0)
    assert view.probes[probe.outcome] == 1 and sum(view.probes.values()) == 1
    assert (view.checks_up, view.checks_down) == (up, down)
    assert view.last_outcome is probe.outcome and view.last_status == probe.status


def test_count_adds_the_reported_tokens() -> None:
    """Input and output tokens add up over probes (a probe without counts adds nothing)."""
    track = ModelTrack("m", True, 0.0)
    track.count(answered(), 1.0)
    track.count(answered(input_tokens=20, output_tokens=3), 2.0)
    track.count(result(Outcome.HTTP_5XX, status=503), 3.0)
    assert track.view(3.0).tokens == {"input": 32, "output": 11}


def test_availability_per_window() -> None:
    """3 answers and 1 failure: 75 % in every window; ten minutes later the 5-minute window has
    no checks (None, not 0) while the hour and the day still say 75 %."""
    track = ModelTrack("m", True, 0.0)
    for at, probe in enumerate([answered(), answered(), result(Outcome.TIMEOUT), answered()]):
        track.count(probe, 100.0 + at)
    assert track.view(104.0).availability == {"5m": 0.75, "1h": 0.75, "24h": 0.75}
    assert track.view(700.0).availability == {"5m": None, "1h": 0.75, "24h": 0.75}


def test_one_failure_is_no_error_ratio() -> None:
    """A single failed check is no share of failures; from the second one it is."""
    track = ModelTrack("m", True, 0.0)
    for at, probe in enumerate([answered(), result(Outcome.TIMEOUT), answered(), answered()]):
        track.count(probe, float(at))
    assert track.evidence(4.0).error_ratio is None
    track.count(result(Outcome.TIMEOUT), 4.0)
    assert track.evidence(4.0).error_ratio == pytest.approx(2 / 5)


def test_error_ratio_counts_since_the_last_recovery_within_the_hour() -> None:
    """Failures before `judged_since`, or over an hour old, say nothing about now."""
    track = ModelTrack("m", True, 0.0)
    for at in (10.0, 20.0, 30.0):
        track.count(result(Outcome.TIMEOUT), at)
    track.count(answered(), 40.0)
    assert track.evidence(40.0).error_ratio == pytest.approx(3 / 4)
    track.judged_since = 30.0
    assert track.evidence(40.0).error_ratio is None  # only the answer at 40 s is after it
    track.judged_since = -float("inf")
    assert track.evidence(30.0 + HOUR).error_ratio is None  # all of them over an hour old


def test_evidence_is_the_median_of_the_last_three_answers() -> None:
    """Time to first token and tokens/s are judged on the median of the last 3 answers."""
    track = ModelTrack("m", True, 0.0)
    for at, (ttft, tps) in enumerate([(9.0, 1.0), (1.0, 40.0), (2.0, 50.0), (7.0, 3.0)]):
        track.count(answered(ttft=ttft, tps=tps), float(at))
    track.count(result(Outcome.TIMEOUT), 5.0)  # failures bring no timings
    evidence = track.evidence(5.0)
    assert (evidence.latency_recent, evidence.throughput_recent) == (2.0, 40.0)


def test_old_answers_are_no_evidence_of_slowness() -> None:
    """Answers over an hour old are not judged: nothing says the model is slow now."""
    track = ModelTrack("m", True, 0.0)
    for at in range(3):
        track.count(answered(ttft=30.0, tps=0.5), float(at))
    evidence = track.evidence(10.0 + HOUR)
    assert (evidence.latency_recent, evidence.throughput_recent) == (None, None)


def test_view_quantiles_and_last_probe() -> None:
    """The view's p50/p95 cover the last hour's answers; `last_*` describe the latest probe."""
    track = ModelTrack("m", True, 0.0)
    track.count(answered(ttft=100.0), 0.0)  # an hour before the others: left out
    for at, ttft in enumerate([1.0, 2.0, 3.0, 4.0, 5.0], start=1):
        track.count(answered(ttft=ttft, tps=10.0 * ttft), HOUR + at)
    track.count(result(Outcome.TIMEOUT, started=HOUR + 6, duration=30.0), HOUR + 36)
    view = track.view(HOUR + 36)
    assert view.ttft_p50 == 3.0 and view.ttft_p95 == pytest.approx(4.8)
    assert view.tokens_per_second_p50 == 30.0
    assert view.ttft.count == 6 and view.tokens_per_second.count == 6  # histograms keep all
    assert (view.last_outcome, view.last_ttft, view.last_probe_at) == (
        Outcome.TIMEOUT,
        None,
        HOUR + 36,
    )


# --- The monitor with inference pairs -------------------------------------------------------

INFERENCE_INTERVAL = 300.0


def provider(slug: str = "p") -> Target:
    spec = ProviderSpec(slug, f"http://127.0.0.1:1/{slug}", auth=AuthStyle.NONE)
    return Target(spec, spec.probe_url(), None)


def watching(*models: str) -> Monitor:
    """Return a monitor of provider `p` with `models` probed, its model list answering at 0 s."""
    m = Monitor(
        [provider()],
        Rules(),
        {},
        0.0,
        inference={"p": models},
        model_rules=Rules(min_throughput=5.0),
        inference_interval=INFERENCE_INTERVAL,
    )
    m.record(ProbeResult("p", Outcome.OK, 0.0, 0.01, status=200), 0.0)
    return m


def probe_model(
    m: Monitor, probe: InferenceResult, now: float
) -> tuple[list[Transition], State, str]:
    """Record a model's probe; return the changes and the provider's state and reason."""
    changes = m.record_inference(probe, now)
    view = m.publish(now).providers["p"]
    return changes, view.state, view.reason


def model_state(m: Monitor, model: str, now: float) -> tuple[State, str]:
    view = m.publish(now).providers["p"].inference[model]
    return view.state, view.reason


def test_a_model_failing_four_times_takes_its_provider_down() -> None:
    """4 consecutive failed completions: the model is down, and since it is the provider's only
    probed model the provider is down (inference_down) though its model list answers."""
    m = watching("m")
    probe_model(m, answered(), 10.0)
    seen = [probe_model(m, result(Outcome.HTTP_5XX, status=503), 10.0 + i) for i in (1, 2, 3)]
    assert [state for _, state, _ in seen] == [UP, UP, UP]
    assert model_state(m, "m", 13.0)[0] is not DOWN
    changes, state, reason = probe_model(m, result(Outcome.HTTP_5XX, status=503), 14.0)
    assert (state, reason) == (DOWN, "inference_down")
    assert model_state(m, "m", 14.0) == (DOWN, "http_5xx")
    model_change, provider_change = changes
    assert (model_change.model, model_change.new, model_change.reason) == ("m", DOWN, "http_5xx")
    assert provider_change == Transition("p", UP, DOWN, "inference_down", 14.0)
    assert m.publish(14.0).providers["p"].since == 14.0


def test_one_of_two_models_down_degrades_its_provider() -> None:
    """One probed model down and another answering: the provider is degraded
    (inference_partly_down), and healthy again when the model is back."""
    m = watching("a", "b")
    probe_model(m, answered(model="b"), 5.0)
    for at in range(4):
        changes, state, reason = probe_model(m, result(Outcome.TIMEOUT, model="a"), 10.0 + at)
    assert (state, reason) == (DEG, "inference_partly_down")
    assert [(c.model, c.new) for c in changes] == [("a", DOWN), ("", DEG)]
    for at in range(2):
        changes, state, reason = probe_model(m, answered(model="a"), 20.0 + at)
    assert (state, reason) == (UP, "ok")
    assert changes[-1] == Transition("p", DEG, UP, "ok", 21.0)


def test_a_provider_down_by_its_models_is_down_as_long_as_they_are() -> None:
    """Its model list answering again changes nothing while the models are down; `since`
    stays at the start of the outage."""
    m = watching("m")
    for at in range(4):
        probe_model(m, result(Outcome.TIMEOUT), 10.0 + at)
    m.record(ProbeResult("p", Outcome.OK, 30.0, 0.01, status=200), 30.0)
    view = m.publish(30.0).providers["p"]
    assert (view.state, view.reason, view.since) == (DOWN, "inference_down", 13.0)


def test_a_model_leaving_down_is_healthy_not_failing() -> None:
    """Like a provider, a model that answers again after an outage is healthy at once: the
    failures of the outage that is over do not make it "failing" for another interval."""
    m = watching("m")
    for at in range(5):
        probe_model(m, answered(), 60.0 * at)
    for at in range(5, 9):
        probe_model(m, result(Outcome.HTTP_5XX, status=503), 60.0 * at)
    assert model_state(m, "m", 480.0)[0] is DOWN
    probe_model(m, answered(), 540.0)
    assert model_state(m, "m", 540.0)[0] is DOWN  # UP_AFTER_SUCCESSES = 2
    changes, _, _ = probe_model(m, answered(), 600.0)
    assert model_state(m, "m", 600.0) == (UP, "ok")
    assert [(c.model, c.new) for c in changes] == [("m", UP), ("", UP)]


def test_a_slow_model_is_degraded_but_leaves_its_provider_alone() -> None:
    """A model under the tokens/s floor is degraded (slow_tokens); only down models move the
    provider."""
    m = watching("m")
    for at in range(3):
        changes, state, _ = probe_model(m, answered(tps=1.0), 10.0 + at)
    assert model_state(m, "m", 12.0) == (DEG, "slow_tokens")
    assert state is UP and all(change.model == "m" for change in changes)


def test_skipped_probes_make_a_model_unknown_after_two_intervals() -> None:
    """The budget keeping a model from being probed changes nothing for two intervals; then the
    model is unknown (budget_exhausted) and its provider shows its own state."""
    m = watching("m")
    for at in range(4):
        probe_model(m, result(Outcome.TIMEOUT), 10.0 + at)
    assert m.publish(13.0).providers["p"].state is DOWN
    assert m.skip_inference("p", "m", 13.0 + INFERENCE_INTERVAL) == []
    assert m.skip_inference("p", "m", 13.0 + 2 * INFERENCE_INTERVAL) == []
    assert model_state(m, "m", 13.0 + 2 * INFERENCE_INTERVAL) == (DOWN, "timeout")
    late = 14.0 + 2 * INFERENCE_INTERVAL
    changes = m.skip_inference("p", "m", late)
    assert changes == [
        Transition("p", DOWN, UNK, "budget_exhausted", late, "m"),
        Transition("p", DOWN, UP, "ok", late),
    ]
    view = m.publish(late).providers["p"]
    assert view.inference["m"].skipped == 3 and view.state is UP
    assert m.skip_inference("p", "m", late + INFERENCE_INTERVAL) == []  # already unknown


def test_a_model_never_probed_stays_unknown_when_skipped() -> None:
    """A model the budget never let be probed stays unknown without a state change."""
    m = watching("m")
    assert m.skip_inference("p", "m", 10 * INFERENCE_INTERVAL) == []
    assert model_state(m, "m", 10 * INFERENCE_INTERVAL)[0] is UNK


def test_a_probe_the_network_explains_changes_nothing_offline() -> None:
    """While the exporter is offline, a model's refused connections count in its totals only."""
    m = watching("m")
    probe_model(m, answered(), 5.0)
    for at in range(6):
        changes = m.record_inference(result(Outcome.CONNECT_ERROR), 10.0 + at, offline_before=True)
        assert changes == []
    view = m.publish(20.0).providers["p"].inference["m"]
    assert (view.state, view.checks_down, view.probes[Outcome.CONNECT_ERROR]) == (UP, 0, 6)


LIST_PROBES = [Outcome.OK] * 3 + [Outcome.HTTP_5XX] * 5 + [Outcome.OK] * 3 + [Outcome.TIMEOUT]
Seen = tuple[Transition | None, State, str, float, dict[str, ModelView]]


def list_probes_seen(inference: dict[str, tuple[str, ...]] | None) -> list[Seen]:
    """Record LIST_PROBES of provider `p`, a second apart; return what each one showed."""
    m = Monitor([provider(), provider("other")], Rules(), {}, 0.0, inference=inference)
    seen: list[Seen] = []
    for at, outcome in enumerate(LIST_PROBES):
        status = {Outcome.OK: 200, Outcome.HTTP_5XX: 503}.get(outcome)
        change = m.record(ProbeResult("p", outcome, float(at), 0.01, status=status), float(at))
        view = m.publish(float(at)).providers["p"]
        seen.append((change, view.state, view.reason, view.since, dict(view.inference)))
    return seen


@pytest.mark.parametrize("inference", [{}, {"other": ("m",)}])
def test_a_provider_without_pairs_is_judged_as_before(
    inference: dict[str, tuple[str, ...]],
) -> None:
    """With no inference pair of its own, a provider's states, reasons, `since` and transitions
    are those of list probes alone, and its view has no models."""
    before = list_probes_seen(None)
    assert list_probes_seen(inference) == before
    assert [state for _, state, _, _, _ in before] == [UP] * 4 + [DEG] * 2 + [DOWN] * 3 + [UP] * 3
    assert all(models == {} for _, _, _, _, models in before)


@pytest.mark.parametrize(
    "text",
    ["Rate limit was reached for requests", "Your quota limit was reached", "bad request"],
)
def test_other_limits_are_not_the_token_limit(text: str) -> None:
    """A 400 about a rate or quota limit is no proof the model is alive."""
    assert not dialects.limit_reached(text)


def test_empty_data_and_null_error_are_not_stream_errors() -> None:
    """An empty `data:` keep-alive and `"error": null` in a normal chunk break nothing."""
    assert dialects.read_event(Dialect.OPENAI, "", "") == dialects.Event()
    chunk = '{"error": null, "choices": [{"delta": {"content": "ok"}}]}'
    assert dialects.read_event(Dialect.OPENAI, "", chunk).text == "ok"
