"""One exception hierarchy, and the outcome table (docs/design.md, "Errors")."""

from __future__ import annotations

import enum


class Outcome(enum.Enum):
    """What a failed (or finished) step means for the Pub/Sub message that caused it."""

    DONE = "done"  # ack
    GONE = "gone"  # ack, log at INFO
    TRANSIENT = "transient"  # raise: Pub/Sub redelivers with backoff
    PERMANENT = "permanent"  # dead-letter with the reason, then ack


class SnapkeeperError(Exception):
    """Base of every error snapkeeper raises on purpose."""

    outcome: Outcome = Outcome.PERMANENT


class ConfigError(SnapkeeperError):
    """The deployment's environment variables are missing or wrong."""


class InvalidMessage(SnapkeeperError):
    """A tick or work message that does not match its schema: retrying cannot help."""


class OptionError(InvalidMessage):
    """A schedule option that is unknown or has a bad value, in the deploy config or in a
    tick: a tick carrying one is dead-lettered, never half applied."""


class NotAllowed(SnapkeeperError):
    """A message names a project outside TARGET_PROJECTS."""


class LabelError(SnapkeeperError):
    """A snapshot-* label whose value is not usable (reported, never fatal to a tick)."""


class ComputeError(SnapkeeperError):
    """A Compute Engine call failed; `outcome` says what the caller should do."""

    def __init__(
        self,
        message: str,
        *,
        outcome: Outcome,
        status: int | None,
        reason: str | None,
        failed_target: str | None = None,
    ) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.status = status
        self.reason = reason
        self.failed_target = failed_target  # id of what a failed operation was making


class ApiError(SnapkeeperError):
    """A Resource Manager or Asset Inventory call failed; `outcome` as for Compute."""

    def __init__(self, message: str, *, outcome: Outcome) -> None:
        super().__init__(message)
        self.outcome = outcome


class NameCollision(SnapkeeperError):
    """A snapshot under our deterministic name belongs to another disk or slot."""


class SnapshotInProgress(SnapkeeperError):
    """The slot's snapshot is still CREATING/UPLOADING at the wait bound: redeliver, and
    the next delivery follows it again without a second insert."""

    outcome = Outcome.TRANSIENT


class SnapshotFailed(SnapkeeperError):
    """The slot's snapshot ended FAILED (or vanished): redeliver, and the next delivery
    deletes it and takes it again with a fresh requestId."""

    outcome = Outcome.TRANSIENT


class RestoreError(SnapkeeperError):
    """A restore that cannot or must not happen (nothing to restore, disk exists...)."""


class DrillInProgress(SnapkeeperError):
    """A drill's scratch disk is still being restored at the wait bound (or by a
    duplicate delivery): redeliver; the next delivery removes it and restores again."""

    outcome = Outcome.TRANSIENT


class DrillFailed(SnapkeeperError):
    """A restore that ended without a READY disk: the backup did not prove itself."""


class ScheduleNotFound(SnapkeeperError):
    """No Cloud Scheduler job for a schedule."""


class ScheduleStateError(SnapkeeperError):
    """A job not in the state a change needs (pause a paused job...)."""


class TransientError(SnapkeeperError):
    """Raised by a handler so that Pub/Sub redelivers the message."""

    outcome = Outcome.TRANSIENT


class RateLimited(SnapkeeperError):
    """A write met (or would meet) the project's rate quota: the work is re-queued with a
    not-before time `delay` seconds away and a fresh attempt budget, never dead-lettered
    for it (up to MAX_REQUEUES)."""

    outcome = Outcome.TRANSIENT

    def __init__(self, message: str, *, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class QuotaExhausted(SnapkeeperError):
    """The snapshot project holds its SNAPSHOTS quota up to the guard's threshold: new
    snapshots are refused (dead-lettered) until snapshots are deleted or the quota raised."""
