"""The pure parts of webhook delivery: backoff with jitter, Retry-After, judging an
HTTP answer, and the hops that keep long delays under the visibility timeout."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from shared.settings import Settings
from workers.delivery import Answer, hop, judge, next_delay, parse_retry_after, retry_delay

NOW = 1_800_000_000.0


def _settings(**kw) -> Settings:
    return Settings(_env_file=None, **kw)


def test_backoff_doubles_from_the_base_with_jitter_and_stops_at_the_cap():
    rng = random.Random(1)
    for attempt, nominal in [(1, 10), (2, 20), (3, 40), (4, 80), (12, 3600), (40, 3600)]:
        draws = [retry_delay(attempt, 10, 3600, rng) for _ in range(200)]
        assert all(nominal / 2 <= d <= nominal for d in draws), attempt
        assert max(draws) - min(draws) > nominal / 4  # jittered, not fixed


def test_default_schedule_spans_about_a_day():
    default = {name: info.default for name, info in Settings.model_fields.items()}
    base, cap = default["webhook_backoff_base_seconds"], default["webhook_backoff_max_seconds"]
    nominal = [min(cap, base * 2 ** n) for n in range(default["webhook_max_attempts"] - 1)]
    assert nominal[:4] == [10, 20, 40, 80] and max(nominal) == cap == 6 * 3600
    assert 20 * 3600 < sum(nominal) < 26 * 3600
    # A failing endpoint is disabled only after several whole schedules.
    assert default["webhook_disable_after_seconds"] == 5 * 86_400


@pytest.mark.parametrize("value, expected", [
    ("120", 120.0), ("0", 0.0), (" 7 ", 7.0), (None, None), ("", None), ("soon", None),
    ("-5", None),
])
def test_retry_after_in_seconds(value, expected):
    assert parse_retry_after(value, NOW) == expected


def test_retry_after_as_an_http_date():
    when = datetime.fromtimestamp(NOW + 90, tz=timezone.utc)
    assert parse_retry_after(format_datetime(when, usegmt=True), NOW) == pytest.approx(90)
    past = datetime.fromtimestamp(NOW - 90, tz=timezone.utc)
    assert parse_retry_after(format_datetime(past, usegmt=True), NOW) == 0.0


def test_retry_after_replaces_the_backoff_but_never_passes_the_cap():
    s = _settings(webhook_backoff_base_seconds=10, webhook_backoff_max_seconds=600)
    assert next_delay(Answer(429, 1.0, {}, True, retry_after=30), 1, s) == 30
    assert next_delay(Answer(503, 1.0, {}, True, retry_after=10_000), 1, s) == 600
    assert 5 <= next_delay(Answer(500, 1.0, {}, True), 1, s) <= 10


@pytest.mark.parametrize("status, code, retryable", [
    (200, None, False), (204, None, False), (301, "redirect", False), (302, "redirect", False),
    (307, "redirect", False), (400, "http_status", False), (404, "http_status", False),
    (410, "http_status", False), (429, "http_status", True), (500, "http_status", True),
    (503, "http_status", True),
])
def test_judging_statuses(status, code, retryable):
    answer = judge(status, "https://elsewhere.example/", 5.0, 12.5)
    assert (answer.error or {}).get("code") == code
    assert answer.retryable is retryable
    assert answer.retry_after == (5.0 if retryable else None)
    assert answer.status_code == status and answer.latency_ms == 12.5


def test_long_delays_travel_in_hops_below_the_visibility_timeout():
    s = _settings(visibility_timeout=3600, task_time_limit=1800, task_soft_time_limit=1500)
    assert hop(NOW + 10, NOW, s) == 10
    assert hop(NOW + 21_600, NOW, s) == 1800  # a 6 h retry: four hops of half an hour
    assert hop(NOW - 1, NOW, s) == 0
