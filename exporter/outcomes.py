"""The closed set of probe outcomes and the rule for which ones count against availability."""

from enum import StrEnum


class Outcome(StrEnum):
    """What one probe of a provider found."""

    OK = "ok"
    TIMEOUT = "timeout"
    CONNECT_ERROR = "connect_error"
    DNS_ERROR = "dns_error"
    TLS_ERROR = "tls_error"
    HTTP_5XX = "http_5xx"
    HTTP_429 = "http_429"
    HTTP_AUTH = "http_auth"
    HTTP_4XX = "http_4xx"
    BAD_BODY = "bad_body"
    REDIRECT_ERROR = "redirect_error"
    INTERNAL_ERROR = "internal_error"  # the probe itself failed unexpectedly (a bug on our side)
    # Only an inference probe (a streamed completion) can end these two ways:
    STREAM_ERROR = "stream_error"  # the stream was cut, malformed, or never said it was done
    EMPTY_COMPLETION = "empty_completion"  # the stream ended properly with no output at all


class Verdict(StrEnum):
    """What an outcome says about the provider."""

    UP = "up"  # it answered as expected
    DOWN = "down"  # counts against availability
    LIMITED = "limited"  # 429: alive but rate-limiting us; not an outage, not a success
    REJECTED = "rejected"  # 401/403: our key is missing or refused; our problem, not theirs
    INCONCLUSIVE = "inconclusive"  # another 4xx: the server answered but not to our probe


# The availability rule. A 429 or an auth failure is not an outage; timeouts, refused
# connections, DNS/TLS failures, 5xx, redirect loops, bodies that are not the expected JSON and
# probes that failed in an unexpected way are.
# Other 4xx (404, 400 …) say the server is up but our probe is wrong: not counted either way.
VERDICTS: dict[Outcome, Verdict] = {
    Outcome.OK: Verdict.UP,
    Outcome.TIMEOUT: Verdict.DOWN,
    Outcome.CONNECT_ERROR: Verdict.DOWN,
    Outcome.DNS_ERROR: Verdict.DOWN,
    Outcome.TLS_ERROR: Verdict.DOWN,
    Outcome.HTTP_5XX: Verdict.DOWN,
    Outcome.BAD_BODY: Verdict.DOWN,
    Outcome.REDIRECT_ERROR: Verdict.DOWN,
    # Counted as a failure: a provider whose probes keep failing must not stay `unknown`. The
    # usual cause is an answer that broke our parsing; `probe_internal_error` names the spot.
    Outcome.INTERNAL_ERROR: Verdict.DOWN,
    # A completion that broke off or came back empty is what a gateway's user would have got.
    Outcome.STREAM_ERROR: Verdict.DOWN,
    Outcome.EMPTY_COMPLETION: Verdict.DOWN,
    Outcome.HTTP_429: Verdict.LIMITED,
    Outcome.HTTP_AUTH: Verdict.REJECTED,
    Outcome.HTTP_4XX: Verdict.INCONCLUSIVE,
}

OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)  # what an inference probe can end as
STREAM_OUTCOMES = frozenset({Outcome.STREAM_ERROR, Outcome.EMPTY_COMPLETION})
# What a model-list probe can end as: the provider windows' columns, in this order.
LIST_OUTCOMES: tuple[Outcome, ...] = tuple(o for o in OUTCOMES if o not in STREAM_OUTCOMES)
OUTCOME_INDEX: dict[Outcome, int] = {outcome: i for i, outcome in enumerate(LIST_OUTCOMES)}


def verdict(outcome: Outcome) -> Verdict:
    """Return what `outcome` says about the provider's availability."""
    return VERDICTS[outcome]
