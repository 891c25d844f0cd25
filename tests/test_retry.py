"""The retry policy as a pure function."""

from __future__ import annotations

import email.utils

import pytest

from deepseek_magic.client._retry import RetryPolicy, parse_retry_after


@pytest.mark.parametrize(
    "status,expected",
    [
        (None, True),
        (408, True),
        (409, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (400, False),
        (401, False),
        (402, False),
        (403, False),
        (404, False),
        (422, False),
    ],
)
def test_which_statuses_are_retried(status: int | None, expected: bool) -> None:
    assert RetryPolicy(max_retries=2).should_retry(0, status) is expected


def test_retry_count_is_bounded() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.should_retry(1, 503) and not policy.should_retry(2, 503)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_delay=8)
    assert [policy.delay(n, None, jitter=lambda: 0.0) for n in range(6)] == [0.5, 1, 2, 4, 8, 8]
    assert policy.delay(0, None, jitter=lambda: 1.0) == pytest.approx(0.375)


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    policy = RetryPolicy(max_retry_after=30)
    assert policy.delay(0, 2.0) == 2.0
    assert policy.delay(0, 3600.0) is None  # asked to wait an hour: tell the user instead


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({"Retry-After": "soon"}) is None
    assert parse_retry_after({}) is None
    date = email.utils.formatdate(1_000_010, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=1_000_000) == pytest.approx(10, abs=1)


def test_worst_case_total_wait_is_bounded() -> None:
    assert RetryPolicy(max_retries=2, max_delay=8, max_retry_after=30).worst_case_wait() == 60
