"""The error table: what each Compute error means for the message."""

from __future__ import annotations

import json

import pytest
import requests
from google.api_core import exceptions as gexc

from snapkeeper.compute import as_compute_error, classify, classify_operation_error
from snapkeeper.errors import Outcome


def forbidden(reason: str) -> gexc.Forbidden:
    return gexc.Forbidden("nope", errors=[{"reason": reason, "message": "nope"}])


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        (gexc.Conflict("exists"), Outcome.DONE),
        (gexc.NotFound("gone"), Outcome.GONE),
        (gexc.TooManyRequests("slow down"), Outcome.TRANSIENT),
        (gexc.ServiceUnavailable("down"), Outcome.TRANSIENT),
        (gexc.InternalServerError("oops"), Outcome.TRANSIENT),
        (gexc.GatewayTimeout("late"), Outcome.TRANSIENT),
        (gexc.DeadlineExceeded("late"), Outcome.TRANSIENT),
        (gexc.PreconditionFailed("fingerprint"), Outcome.TRANSIENT),
        (gexc.RetryError("gave up", cause=None), Outcome.TRANSIENT),
        (requests.exceptions.ConnectionError("reset"), Outcome.TRANSIENT),
        (forbidden("rateLimitExceeded"), Outcome.TRANSIENT),
        (forbidden("RESOURCE_OPERATION_RATE_EXCEEDED"), Outcome.TRANSIENT),
        (forbidden("forbidden"), Outcome.PERMANENT),
        (gexc.BadRequest("invalid"), Outcome.PERMANENT),
    ],
)
def test_classify(exc: BaseException, outcome: Outcome) -> None:
    assert classify(exc) is outcome


def test_compute_error_names_action_status_and_reason() -> None:
    error = as_compute_error(forbidden("forbidden"), "create snapshot s")
    assert str(error) == "create snapshot s: 403 forbidden: nope"
    assert (error.status, error.reason, error.outcome) == (403, "forbidden", Outcome.PERMANENT)


def from_body(status: int, body: dict[str, object]) -> gexc.GoogleAPICallError:
    """The exception api_core builds from a real Compute error body."""
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps({"error": body}).encode()
    response.request = requests.Request("POST", "https://compute.example/x").prepare()
    return gexc.from_http_response(response)


def error_info(reason: str) -> dict[str, str]:
    return {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": reason,
        "domain": "compute.googleapis.com",
    }


def error_body(
    code: int, message: str, reason: str, domain: str, info: str | None = None
) -> dict[str, object]:
    """A real Compute error body: one errors[] entry, and an ErrorInfo when `info` is given."""
    body: dict[str, object] = {
        "code": code,
        "message": message,
        "errors": [{"reason": reason, "domain": domain}],
    }
    if info is not None:
        body["details"] = [error_info(info)]
    return body


@pytest.mark.parametrize(
    "body",
    [
        # Quota per minute: ErrorInfo RATE_LIMIT_EXCEEDED, errors[] rateLimitExceeded.
        error_body(
            403,
            "Quota exceeded for quota metric 'Write requests'",
            "rateLimitExceeded",
            "usageLimits",
            "RATE_LIMIT_EXCEEDED",
        ),
        # The ErrorInfo alone says it: api_core's exc.reason hides errors[].
        error_body(
            403,
            "Too many concurrent operations",
            "forbidden",
            "global",
            "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED",
        ),
        # errors[] alone says it, behind an ErrorInfo of another reason.
        error_body(403, "Rate limit", "userRateLimitExceeded", "global", "SOMETHING_ELSE"),
        # Only the domain says it.
        error_body(403, "Daily limit", "dailyLimitExceeded", "usageLimits"),
        error_body(
            400,
            "The resource 'projects/p/global/snapshots/s' is not ready",
            "resourceNotReady",
            "global",
        ),
    ],
)
def test_every_reason_of_a_real_body_is_read(body: dict[str, object]) -> None:
    status = body["code"]
    assert isinstance(status, int)
    assert classify(from_body(status, body)) is Outcome.TRANSIENT


def test_a_permission_denied_body_with_error_info_is_permanent() -> None:
    exc = from_body(
        403,
        error_body(
            403,
            "Required 'compute.snapshots.create' permission for 'projects/p'",
            "forbidden",
            "global",
            "IAM_PERMISSION_DENIED",
        ),
    )
    assert classify(exc) is Outcome.PERMANENT
    error = as_compute_error(exc, "create snapshot s")
    assert "IAM_PERMISSION_DENIED/forbidden" in str(error)


@pytest.mark.parametrize(
    ("codes", "http_status", "outcome"),
    [
        (["QUOTA_EXCEEDED"], 403, Outcome.PERMANENT),
        (["RESOURCE_OPERATION_RATE_EXCEEDED"], 403, Outcome.TRANSIENT),
        (["RATE_LIMIT_EXCEEDED"], 403, Outcome.TRANSIENT),
        (["CONCURRENT_OPERATIONS_QUOTA_EXCEEDED"], 403, Outcome.TRANSIENT),
        (["INTERNAL_ERROR"], 500, Outcome.TRANSIENT),
        (["INVALID_USAGE"], 400, Outcome.PERMANENT),
        (["INVALID_USAGE", "RESOURCE_OPERATION_RATE_EXCEEDED"], 400, Outcome.TRANSIENT),
    ],
)
def test_errors_inside_an_operation_follow_the_same_table(
    codes: list[str], http_status: int, outcome: Outcome
) -> None:
    assert classify_operation_error(codes, http_status) is outcome


@pytest.mark.parametrize(
    "exc",
    [
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectTimeout("connect timed out"),
        requests.exceptions.ChunkedEncodingError("connection dropped"),
    ],
)
def test_network_failures_are_transient(exc: BaseException) -> None:
    assert classify(exc) is Outcome.TRANSIENT
