"""Sampling keeps failed unsampled roots; the log processors take secrets out."""

from __future__ import annotations

import json

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from pydantic import SecretStr

from sichrplace.config import LoggingSettings
from sichrplace.platform.observability import logging as obs_logging
from sichrplace.platform.observability.errors import scrub
from sichrplace.platform.observability.tracing import EdgeSampler, SampledOrFailedProcessor
from sichrplace.platform.secrets.provider import InsecureSecretError


def _provider(
    ratio: float, *, keep_errors: bool = True
) -> tuple[trace.Tracer, TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=EdgeSampler(ratio, keep_errors=keep_errors))
    provider.add_span_processor(SampledOrFailedProcessor(exporter, schedule_delay_millis=10))
    return provider.get_tracer("test"), provider, exporter


def _names(provider: TracerProvider, exporter: InMemorySpanExporter) -> list[str]:
    provider.force_flush()
    return sorted(s.name for s in exporter.get_finished_spans())


def test_unsampled_roots_are_exported_only_when_they_fail() -> None:
    tracer, provider, exporter = _provider(0.0)
    with tracer.start_as_current_span("ok-root") as root:
        assert root.is_recording()  # recorded, not sampled: it may still fail
        with tracer.start_as_current_span("child") as child:
            assert not child.is_recording()  # children of unsampled roots cost nothing
    with tracer.start_as_current_span("failed-root") as failed:
        failed.set_status(Status(StatusCode.ERROR, "HTTP 500"))
    assert _names(provider, exporter) == ["failed-root"]


def test_unsampled_http_server_roots_are_not_recorded() -> None:
    # The telemetry middleware exports a failed one itself (test_failed_roots.py): recording
    # every request's root just in case cost ~10 µs per request.
    tracer, _, _ = _provider(0.0)
    with tracer.start_as_current_span("GET /x", kind=SpanKind.SERVER) as root:
        assert not root.is_recording()
    with tracer.start_as_current_span("job", kind=SpanKind.CONSUMER) as job:
        assert job.is_recording()


def test_without_keep_errors_unsampled_roots_are_not_recorded() -> None:
    tracer, provider, exporter = _provider(0.0, keep_errors=False)
    with tracer.start_as_current_span("root") as root:
        assert not root.is_recording()
        root.set_status(Status(StatusCode.ERROR))
    assert _names(provider, exporter) == []


def test_sampled_traces_are_exported_whole() -> None:
    tracer, provider, exporter = _provider(1.0)
    with tracer.start_as_current_span("root"), tracer.start_as_current_span("child"):
        pass
    assert _names(provider, exporter) == ["child", "root"]


def test_a_remote_sampled_flag_does_not_force_sampling() -> None:
    """The ratio decides on the trace id, whatever the caller's flags (clients cannot make us
    record everything), and the same id gets the same answer in every process."""
    tracer, provider, exporter = _provider(0.5)
    low = 0x4BF92F3577B34DA6_0000000000000001  # low 64 bits tiny: under any ratio > 0
    high = 0x4BF92F3577B34DA6_FFFFFFFFFFFFFFF0  # above a ratio of 0.5
    for trace_id, name in ((low, "kept"), (high, "dropped")):
        parent = SpanContext(trace_id, 0x00F067AA0BA902B7, True, TraceFlags(TraceFlags.SAMPLED))
        ctx = trace.set_span_in_context(NonRecordingSpan(parent))
        with tracer.start_as_current_span(name, context=ctx):
            pass
    assert _names(provider, exporter) == ["kept"]


SECRETS = {
    "password": "Hunter2-Very-Secret!",
    "email": "maximilian.mustermann@example.com",
    "token": "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
    "iban": "DE89370400440532013000",
    "card": "4111 1111 1111 1111",
}


# A password is free text: it is recognised by its key, the others also by their shape.
@pytest.mark.parametrize("secret", ["email", "token", "iban", "card"])
def test_the_log_processor_takes_secrets_out(secret: str) -> None:
    value = SECRETS[secret]
    event = {
        "event": f"something about {value}",
        "password": SECRETS["password"],
        "authorization": f"Bearer {SECRETS['token']}",
        "detail": {"note": f"paid with {value}", "items": [value]},
        "request_id": "abc",
    }
    rendered = json.dumps(obs_logging.redact(None, "info", event))
    assert value not in rendered
    assert SECRETS["password"] not in rendered
    assert "abc" in rendered  # the platform's own fields stay


def test_secrets_inside_serialised_text_are_taken_out() -> None:
    text = obs_logging.redact_text('b\'{"password":"Hunter2","name":"x"}\' token=abc123 ok')
    assert "Hunter2" not in text
    assert "abc123" not in text
    assert '"name":"x"' in text


def test_emails_keep_their_domain_only() -> None:
    assert obs_logging.redact_text("to max@example.com") == "to m***@example.com"


def test_card_like_numbers_must_pass_luhn() -> None:
    assert obs_logging.redact_text("order 1234567890123") == "order 1234567890123"
    assert "4111" not in obs_logging.redact_text("card 4111-1111-1111-1111")


def test_user_hash_is_keyed_and_stable() -> None:
    first = obs_logging.user_hash("7d3c")
    assert first == obs_logging.user_hash("7d3c")
    assert "7d3c" not in first
    assert len(first) == 16
    saved = obs_logging._user_hash_key
    try:
        obs_logging._user_hash_key = b"another-key-of-at-least-32-bytes!!"
        assert obs_logging.user_hash("7d3c") != first
    finally:
        obs_logging._user_hash_key = saved


def test_production_refuses_the_default_user_hash_key() -> None:
    with pytest.raises(InsecureSecretError, match="SICHRPLACE_LOG_USER_HASH_KEY"):
        obs_logging.configure_logging(LoggingSettings(), environment="production")
    weak = LoggingSettings(user_hash_key=SecretStr("short"))
    with pytest.raises(InsecureSecretError, match="shorter than 32"):
        obs_logging.configure_logging(weak, environment="production")


def test_error_events_are_scrubbed_like_logs() -> None:
    event = {"exception": {"values": [{"value": f"boom {SECRETS['iban']}"}]}, "extra": SECRETS}
    # "extra" holds the password under its own key, the rest are found by shape
    rendered = json.dumps(scrub(event))
    for value in SECRETS.values():
        assert value not in rendered
