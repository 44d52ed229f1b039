"""DESIGN.md's error table: what each Compute error means for the message."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions as gexc

from snapkeeper.compute import as_compute_error, classify
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
