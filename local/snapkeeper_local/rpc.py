"""google.rpc errors as Google's JSON APIs answer them, for the fakes that speak the
newer (google.rpc.Status) error shape: `{"error": {"code", "message", "status"}}`, which
the clients' REST transports turn into their own exceptions."""

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
# Werkzeug's own HTTP errors (unknown path, wrong verb) in google.rpc terms.
HTTP_ERROR_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    413: "INVALID_ARGUMENT",
    415: "INVALID_ARGUMENT",
}


def rpc_code_number(status: str) -> int:
    return RPC_CODES.get(status, RPC_CODES["UNKNOWN"])[0]


class RpcError(Exception):
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


class InvalidArgument(RpcError):
    status = "INVALID_ARGUMENT"


class NotFound(RpcError):
    status = "NOT_FOUND"


class PermissionDenied(RpcError):
    status = "PERMISSION_DENIED"


class FailedPrecondition(RpcError):
    status = "FAILED_PRECONDITION"


class AlreadyExists(RpcError):
    status = "ALREADY_EXISTS"


class Internal(RpcError):
    status = "INTERNAL"
