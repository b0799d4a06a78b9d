"""Retrying a model call inside an agent step: exponential backoff, then give up with a reason."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from application.designs import ModelsUnavailableError

log = structlog.get_logger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient model failure is retried within a step."""

    attempts: int = 3
    initial_wait_seconds: float = 0.5
    max_wait_seconds: float = 8.0


@dataclass(frozen=True)
class Succeeded(Generic[T]):
    value: T
    attempts: int


@dataclass(frozen=True)
class GaveUp:
    reason: str
    attempts: int


def _transient(exc: BaseException) -> bool:
    return not isinstance(exc, ValueError | ModelsUnavailableError)


def with_retries(
    stage: str,
    action: Callable[[], T],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> Succeeded[T] | GaveUp:
    """Run ``action``, retrying transient failures; GaveUp after the last attempt or on a
    ValueError (a request the model cannot serve, which no retry fixes).

    ModelsUnavailableError propagates: it is a deployment problem, not the design's.
    """
    attempts = 0

    def before_sleep(state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        log.warning(
            "agent.retry",
            stage=stage,
            attempt=state.attempt_number,
            error=f"{type(error).__name__}: {error}",
        )

    try:
        for attempt in Retrying(
            stop=stop_after_attempt(max(1, policy.attempts)),
            wait=wait_exponential(
                multiplier=policy.initial_wait_seconds, max=policy.max_wait_seconds
            ),
            retry=retry_if_exception(_transient),
            reraise=True,
            sleep=sleep,
            before_sleep=before_sleep,
        ):
            with attempt:
                attempts = attempt.retry_state.attempt_number
                return Succeeded(action(), attempts)
    except ModelsUnavailableError:
        raise
    except Exception as exc:
        return GaveUp(f"{stage} failed: {type(exc).__name__}: {exc}", max(1, attempts))
    raise AssertionError("unreachable")  # pragma: no cover
