"""Errors of the fake Compute Engine API, each carrying the real HTTP code and reason.

The body shape is the one Compute Engine sends, so `google.api_core.exceptions` builds
the right class (NotFound, Conflict, ...) with `.errors[0]["reason"]` filled in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo"
ERROR_INFO_DOMAIN = "compute.googleapis.com"


class ComputeError(Exception):
    """An API error: HTTP `code`, `reason` and `domain` (errors[0]) and `message`.

    With `error_info`, the body also carries a google.rpc.ErrorInfo detail with that
    reason (quota and rate-limit errors do), which api_core exposes as `exc.reason`."""

    code: int = 500
    reason: str = "backendError"
    domain: str = "global"
    error_info: str | None = None
    # Who the ErrorInfo says decided: Compute itself, or Google's quota system.
    error_info_domain: ClassVar[str] = ERROR_INFO_DOMAIN
    # How `resource(path)` words this error, for the classes raised about one resource.
    resource_message: ClassVar[str] = "An error on the resource '{path}'"

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        reason: str | None = None,
        domain: str | None = None,
        error_info: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if reason is not None:
            self.reason = reason
        if domain is not None:
            self.domain = domain
        if error_info is not None:
            self.error_info = error_info
        self.metadata = dict(metadata or {})

    @classmethod
    def resource(cls, path: str) -> Self:
        return cls(cls.resource_message.format(path=path))

    def details(self) -> list[dict[str, Any]]:
        """google.rpc details: an ErrorInfo when the error has one."""
        if self.error_info is None:
            return []
        return [
            {
                "@type": ERROR_INFO_TYPE,
                "reason": self.error_info,
                "domain": self.error_info_domain,
                "metadata": {"service": ERROR_INFO_DOMAIN, **self.metadata},
            }
        ]

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "errors": [{"message": self.message, "domain": self.domain, "reason": self.reason}],
        }
        details = self.details()
        if details:
            body["details"] = details
        return {"error": body}


class NotFound(ComputeError):
    code = 404
    reason = "notFound"
    resource_message = "The resource '{path}' was not found"


class AlreadyExists(ComputeError):
    code = 409
    reason = "alreadyExists"
    resource_message = "The resource '{path}' already exists"


class Invalid(ComputeError):
    code = 400
    reason = "invalid"

    @classmethod
    def field(cls, field: str, value: object, why: str) -> Invalid:
        return cls(f"Invalid value for field '{field}': '{value}'. {why}")


class Required(ComputeError):
    code = 400
    reason = "required"

    @classmethod
    def field(cls, field: str) -> Required:
        return cls(f"Required field '{field}' not specified")


class Forbidden(ComputeError):
    code = 403
    reason = "forbidden"

    @classmethod
    def permission(cls, permission: str, resource: str) -> Forbidden:
        return cls(f"Required '{permission}' permission for '{resource}'")


class ConditionNotMet(ComputeError):
    code = 412
    reason = "conditionNotMet"
    domain = "global"


class ResourceNotReady(ComputeError):
    """A snapshot still being made: it can be neither deleted nor restored yet."""

    code = 400
    reason = "resourceNotReady"
    resource_message = "The resource '{path}' is not ready"


class ResourceRateExceeded(ComputeError):
    """The per-disk snapshot limit: transient, although it is a 403."""

    code = 403
    reason = "RESOURCE_OPERATION_RATE_EXCEEDED"
    domain = "usageLimits"
    error_info = "RESOURCE_OPERATION_RATE_EXCEEDED"
    resource_message = (
        "Operation rate exceeded for resource '{path}'. "
        "Too frequent operations from the source resource."
    )


class MethodNotFound(ComputeError):
    """An URL the fake does not serve (the real API's answer to an unknown path)."""

    code = 404
    reason = "notFound"


class RateLimitExceeded(ComputeError):
    """A per-minute rate quota ran out: 403, errors[] `rateLimitExceeded` in domain
    `usageLimits`, and an ErrorInfo `RATE_LIMIT_EXCEEDED` from googleapis.com whose
    metadata names the quota metric and limit (how Google's quota system answers)."""

    code = 403
    reason = "rateLimitExceeded"
    domain = "usageLimits"
    error_info = "RATE_LIMIT_EXCEEDED"
    error_info_domain = "googleapis.com"


class ConcurrentOperationsExceeded(ComputeError):
    """Too many of a project's operations in one region (or global) are still running:
    as Compute answers it, "Rate Limit Exceeded" with errors[] `rateLimitExceeded` in
    `usageLimits`, the quota named only by the ErrorInfo's reason."""

    code = 403
    reason = "rateLimitExceeded"
    domain = "usageLimits"
    error_info = "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED"
