"""Errors of the fake, carrying the real API's google.rpc codes.

The real service answers with a `google.rpc.Status` JSON body
(`{"error": {"code": 400, "message": ..., "status": "INVALID_ARGUMENT"}}`), which the
`google-cloud-scheduler` REST transport and gcloud both turn into their own errors.
"""

from __future__ import annotations

from typing import Any

# google.rpc.Code name -> (numeric gRPC code, HTTP status), as Google's HTTP mapping does.
RPC_CODES: dict[str, tuple[int, int]] = {
    "OK": (0, 200),
    "CANCELLED": (1, 499),
    "UNKNOWN": (2, 500),
    "INVALID_ARGUMENT": (3, 400),
    "DEADLINE_EXCEEDED": (4, 504),
    "NOT_FOUND": (5, 404),
    "ALREADY_EXISTS": (6, 409),
    "PERMISSION_DENIED": (7, 403),
    "RESOURCE_EXHAUSTED": (8, 429),
    "FAILED_PRECONDITION": (9, 400),
    "ABORTED": (10, 409),
    "OUT_OF_RANGE": (11, 400),
    "UNIMPLEMENTED": (12, 501),
    "INTERNAL": (13, 500),
    "UNAVAILABLE": (14, 503),
    "DATA_LOSS": (15, 500),
    "UNAUTHENTICATED": (16, 401),
}
RPC_NAMES_BY_NUMBER: dict[int, str] = {number: name for name, (number, _) in RPC_CODES.items()}


def rpc_code_number(status: str) -> int:
    return RPC_CODES.get(status, RPC_CODES["UNKNOWN"])[0]


class SchedulerError(Exception):
    """An API error: `status` is the google.rpc.Code name, `http_status` follows from it."""

    status = "UNKNOWN"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def http_status(self) -> int:
        return RPC_CODES[self.status][1]

    def to_json(self) -> dict[str, Any]:
        return {"error": {"code": self.http_status, "message": self.message, "status": self.status}}


class InvalidArgument(SchedulerError):
    status = "INVALID_ARGUMENT"


class FailedPrecondition(SchedulerError):
    status = "FAILED_PRECONDITION"


class NotFound(SchedulerError):
    status = "NOT_FOUND"


class AlreadyExists(SchedulerError):
    status = "ALREADY_EXISTS"


class Internal(SchedulerError):
    status = "INTERNAL"


# The real service's messages, where known (the same text clients and users search for).
SCHEDULE_OR_TIME_ZONE_INVALID = "Schedule or time zone is invalid."
JOB_NOT_FOUND = "Job not found."
ALREADY_EXISTS_FORMAT = "Job {name} already exists."
JOB_NAME_FORMAT = (
    'Job name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/jobs/<JOB_ID>".'
)
TOPIC_NAME_FORMAT = 'Topic name must be formatted: "projects/<PROJECT_ID>/topics/<TOPIC_ID>".'
ONLY_PUBSUB_TARGETS = "Only Pub/Sub targets are supported by this local fake; got {target}."
