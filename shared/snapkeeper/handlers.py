"""The two Cloud Function handlers: parse the Pub/Sub delivery, run the core step, and
turn its outcome into ack, redelivery or dead letter (docs/design.md, "Errors")."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from snapkeeper import clients, logs
from snapkeeper.compute import ComputeGateway
from snapkeeper.config import Config
from snapkeeper.deadletter import (
    ENUMERATOR,
    PUBLISH_TIMEOUT,
    REPLAY_ATTRIBUTE,
    SNAPSHOTTER,
    dead_letter,
)
from snapkeeper.drill import plan_drill, run_drill
from snapkeeper.enumerator import plan_tick, publish_tick, publish_work, summary
from snapkeeper.errors import (
    ApiError,
    ComputeError,
    InvalidMessage,
    Outcome,
    RateLimited,
    TransientError,
)
from snapkeeper.messages import (
    DRILL_KIND,
    OrphanWork,
    message_kind,
    parse_drill,
    parse_drill_tick,
    parse_message,
    parse_tick,
)
from snapkeeper.orphans import prune_orphans
from snapkeeper.slots import parse_time
from snapkeeper.snapshotter import Action, labels_fresh, take_snapshot


@dataclass(frozen=True)
class Delivery:
    """One Pub/Sub message as a push delivery brings it."""

    payload: bytes
    attributes: dict[str, str]
    message_id: str
    publish_time: datetime
    attempt: int | None  # only where Pub/Sub (and the trigger) pass it on


def parse_delivery(data: Any, event_time: str | None = None) -> Delivery:
    """Read the CloudEvent data of a Pub/Sub push: {"message": {...}, "deliveryAttempt"?}."""
    if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
        raise InvalidMessage("CloudEvent data has no Pub/Sub 'message'")
    message = data["message"]
    try:
        payload = base64.b64decode(message.get("data", ""), validate=True)
    except (binascii.Error, TypeError, ValueError):
        raise InvalidMessage("Pub/Sub message data is not base64") from None
    raw_time = message.get("publishTime") or message.get("publish_time") or event_time
    attempt = data.get("deliveryAttempt")
    return Delivery(
        payload=payload,
        attributes={str(k): str(v) for k, v in (message.get("attributes") or {}).items()},
        message_id=str(message.get("messageId") or message.get("message_id") or ""),
        publish_time=parse_time(raw_time) if raw_time else datetime.now(UTC),
        attempt=attempt if isinstance(attempt, int) else None,
    )


def _envelope(cloud_event: Any) -> Delivery:
    try:
        event_time = cloud_event["time"]
    except (KeyError, TypeError):
        event_time = None
    return parse_delivery(cloud_event.data, event_time)


def _receive(cloud_event: Any, function: str) -> tuple[Config, Delivery | None]:
    """The settings (read now, not at import) and the delivery; None when its envelope
    is unreadable, after dead-lettering the event's data as it came."""
    config = Config.from_env()
    try:
        return config, _envelope(cloud_event)
    except InvalidMessage as exc:
        raw = json.dumps(getattr(cloud_event, "data", None), default=str).encode()
        unreadable = Delivery(raw, {}, "", datetime.now(UTC), None)
        _give_up_or_retry(config, exc, unreadable, function, {})
        return config, None


def _give_up_or_retry(
    config: Config, exc: Exception, delivery: Delivery, function: str, fields: dict[str, Any]
) -> None:
    """Dead-letter a permanent failure, or a transient one on its last attempt; otherwise
    raise so that Pub/Sub redelivers with backoff. A 404 that reaches here is not the
    disk's (that one ends "gone" in the step): something else is missing, the vault
    project say, and no redelivery brings it back."""
    outcome = getattr(exc, "outcome", Outcome.TRANSIENT)
    attempt = delivery.attempt
    last_attempt = attempt is not None and attempt >= config.max_delivery_attempts
    if outcome in (Outcome.PERMANENT, Outcome.GONE) or last_attempt:
        _dead_letter(config, exc, delivery, function, fields)
        return
    _retry(exc, fields)


def _dead_letter(
    config: Config, exc: Exception, delivery: Delivery, function: str, fields: dict[str, Any]
) -> None:
    """Publish the dead letter with its reason, and say so at ERROR."""
    letter_id = dead_letter(
        config,
        delivery.payload,
        delivery.attributes,
        error_class=type(exc).__name__,
        error=str(exc),
        attempts=delivery.attempt,
        function=function,
    )
    logs.error(
        f"dead-lettered: {exc}",
        error_class=type(exc).__name__,
        outcome=getattr(exc, "outcome", Outcome.TRANSIENT).value,
        dead_letter_id=letter_id,
        **fields,
    )


def _retry(exc: Exception, fields: dict[str, Any]) -> NoReturn:
    logs.warning(f"will retry: {exc}", error_class=type(exc).__name__, **fields)
    raise TransientError(str(exc)) from exc


# Attributes of re-queued work: how often it was re-queued, and not before when to run it.
REQUEUES = "requeues"
NOT_BEFORE = "not_before"


def _wait_not_before(config: Config, delivery: Delivery) -> None:
    """Honour a re-queued message's not-before time, waiting at most PACE_MAX_WAIT_SECONDS
    (the pacer then decides whether this delivery's write may go)."""
    raw = delivery.attributes.get(NOT_BEFORE)
    if not raw:
        return
    try:
        remaining = (parse_time(raw) - datetime.now(UTC)).total_seconds()
    except (InvalidMessage, ValueError):
        return  # a mangled hint is only a hint
    if remaining > 0:
        time.sleep(min(remaining, config.pace_max_wait_seconds))


def _requeue(config: Config, exc: RateLimited, delivery: Delivery, fields: dict[str, Any]) -> None:
    """Publish the work again with a not-before time and a fresh attempt budget (the
    rate quota is not the message's fault), then ack this delivery; after MAX_REQUEUES
    re-queues, a dead letter that says so."""
    try:
        requeues = int(delivery.attributes.get(REQUEUES, "0"))
    except ValueError:
        requeues = 0
    if requeues >= config.max_requeues:
        limited = RateLimited(
            f"still rate-limited after {requeues} re-queues (MAX_REQUEUES): {exc}",
            delay=exc.delay,
        )
        _dead_letter(config, limited, delivery, SNAPSHOTTER, fields)
        return
    not_before = datetime.now(UTC) + timedelta(seconds=exc.delay)
    attributes = delivery.attributes | {
        REQUEUES: str(requeues + 1),
        NOT_BEFORE: not_before.isoformat(),
    }
    publisher = clients.publisher(config.endpoints.pubsub)
    future = publisher.publish(config.topic_path(config.work_topic), delivery.payload, **attributes)
    try:
        future.result(timeout=PUBLISH_TIMEOUT)
    except Exception as publish_error:  # not re-queued: Pub/Sub's redelivery instead
        failed = TransientError(f"{exc}; re-queue failed: {publish_error}")
        _give_up_or_retry(config, failed, delivery, SNAPSHOTTER, fields)  # last: a letter
        return
    logs.info(
        f"re-queued for the rate quota, not before {not_before.isoformat()}: {exc}",
        requeues=requeues + 1,
        delay_seconds=round(exc.delay, 3),
        **fields,
    )


def handle_work(cloud_event: Any) -> None:
    """snapshot_disk: one work message -> a snapshot (or a deleted disk's orphans
    pruned), a logged 'gone' or 'skipped', or a dead letter (work that meets the rate
    quota is re-queued, see _requeue)."""
    started = time.monotonic()
    config, delivery = _receive(cloud_event, SNAPSHOTTER)
    if delivery is None:
        return
    fields: dict[str, Any] = {"message_id": delivery.message_id, "attempt": delivery.attempt}
    if _kind(delivery) == DRILL_KIND:
        _drill(config, delivery, started, fields)
        return
    try:
        work = parse_message(delivery.payload)
        fields |= work.log_fields
        _wait_not_before(config, delivery)
        gateway = ComputeGateway.for_config(config, paced=True)
        # The wait bound counts from the delivery, so the function ends inside its timeout.
        deadline = started + config.ready_wait_seconds
        if isinstance(work, OrphanWork):
            result = prune_orphans(work, config, gateway)
        else:
            replayed = REPLAY_ATTRIBUTE in delivery.attributes
            fresh = labels_fresh(work, delivery.attempt, replayed=replayed)
            result = take_snapshot(work, config, gateway, deadline, fresh=fresh)
    except RateLimited as exc:
        _requeue(config, exc, delivery, fields)
        return
    except Exception as exc:  # classified in there: nothing escapes unexamined
        _give_up_or_retry(config, exc, delivery, SNAPSHOTTER, fields)
        return
    if result.held_back:
        # A change that would delete more than the brake allows takes effect over
        # several runs; say what waits, so that a surprise is seen before it is done.
        logs.warning(
            f"pruning held back: {len(result.held_back)} snapshots beyond the "
            f"{config.max_deletes_per_run} a run may delete (MAX_DELETES_PER_RUN) are "
            "left for later runs",
            held_back=list(result.held_back),
            deleted=list(result.deleted),
            snapshot_project=result.snapshot_project,
            **fields,
        )
    message = {
        Action.CREATED: f"snapshot {result.snapshot} created and READY",
        Action.EXISTS: f"snapshot {result.snapshot} is READY",
        Action.GONE: f"disk {work.disk} is gone; nothing to snapshot",
        Action.SKIPPED: f"disk {work.disk} skipped, nothing created or pruned: {result.reason}",
        Action.ORPHANS: f"orphans of deleted disk {work.disk}: {len(result.deleted)} deleted",
    }[result.action]
    logs.info(
        message,
        action=result.action,
        snapshot=result.snapshot,
        snapshot_project=result.snapshot_project,
        # Only a snapshot confirmed READY carries this field: the stale-disk alert's metric.
        snapshot_status=result.status or None,
        deleted=list(result.deleted),
        held=result.held,
        wanted=result.wanted or None,
        held_back=len(result.held_back),
        # Deletes left to the next run because the write quota said no.
        prune_deferred=len(result.deferred) or None,
        reason=result.reason or None,
        duration_seconds=round(time.monotonic() - started, 3),
        **fields,
    )


def handle_tick(cloud_event: Any) -> None:
    """enumerate_disks: one tick -> one work message per disk, and a summary line."""
    started = time.monotonic()
    config, delivery = _receive(cloud_event, ENUMERATOR)
    if delivery is None:
        return
    if _kind(delivery) == DRILL_KIND:
        _drill_tick(config, delivery, started)
        return
    try:
        tick = parse_tick(delivery.payload)
    except InvalidMessage as exc:
        _give_up_or_retry(config, exc, delivery, ENUMERATOR, {"message_id": delivery.message_id})
        return
    fields: dict[str, Any] = {"message_id": delivery.message_id, "schedule": tick.schedule}
    if not config.target_projects and not config.roots:
        logs.error("TARGET_PROJECTS is empty: this tick covers no project", **fields)
    gateway = ComputeGateway.for_config(config)
    try:
        plan = plan_tick(tick, delivery.publish_time, config, gateway)
    except ApiError as exc:  # the folders could not be read: retried, or dead-lettered
        _give_up_or_retry(config, exc, delivery, ENUMERATOR, fields)
        return
    try:
        published = publish_work([*plan.work, *plan.orphan_work], config)
    except TransientError as exc:
        _retry(exc, fields)
    # A failed project is retried or dead-lettered as a tick for that project alone,
    # pinned to this tick's time: the retry (or a replay after the fix) fills exactly
    # the slot that was missed, and never publishes again the work of other projects.
    pinned = dataclasses.replace(tick, time=tick.time or delivery.publish_time)
    transient = [f for f in plan.failures if f.transient]
    if transient and plan.projects == (transient[0].project,):
        # This tick is that one project: Pub/Sub's redelivery is its backoff. On the last
        # attempt the dead letter is the pinned tick, so a replay fills this very slot.
        project = transient[0].project
        pinned_delivery = dataclasses.replace(
            delivery, payload=dataclasses.replace(pinned, projects=(project,)).to_json()
        )
        _give_up_or_retry(
            config,
            TransientError(transient[0].error),
            pinned_delivery,
            ENUMERATOR,
            fields | {"project": project, "slot": plan.slot},
        )
        return
    try:
        retry_ticks = [
            publish_tick(dataclasses.replace(pinned, projects=(f.project,)), config)
            for f in transient
        ]
    except TransientError as exc:  # the whole tick again: its work is idempotent
        _retry(exc, fields)
    for failure in plan.failures:
        if failure.transient:
            continue
        dead_letter(
            config,
            dataclasses.replace(pinned, projects=(failure.project,)).to_json(),
            {"project": failure.project, "schedule": tick.schedule, "slot": plan.slot},
            error_class=failure.error_class,
            error=failure.error,
            attempts=delivery.attempt,
            function=ENUMERATOR,
        )
    report = summary(plan, published, started)
    report["retried_projects"] = [f.project for f in transient]
    severity = "WARNING" if plan.skipped or plan.failures else "INFO"
    logs.log(
        severity,
        f"tick {tick.schedule} {plan.slot}: {len(plan.work)} disks queued, "
        f"{len(plan.orphan_work)} deleted disks' orphans to prune, "
        f"{len(plan.skipped)} skipped, {len(plan.failures) - len(retry_ticks)} projects "
        f"failed, {len(retry_ticks)} projects to retry",
        **(fields | report),
    )


# -- restore drills (snapkeeper.drill) ---------------------------------------------------


def _kind(delivery: Delivery) -> str | None:
    """The message's kind; an unreadable one is left to the snapshot path's parser,
    which dead-letters it with the reason."""
    try:
        return message_kind(delivery.payload)
    except InvalidMessage:
        return None


def _drill_tick(config: Config, delivery: Delivery, started: float) -> None:
    """A drill tick -> one drill message per disk picked, and a summary line."""
    fields: dict[str, Any] = {"message_id": delivery.message_id, "kind": DRILL_KIND}
    try:
        tick = parse_drill_tick(delivery.payload)
        # Pinned to its time, so that a retry or a replay drills the same slot's sample.
        pinned = dataclasses.replace(tick, time=tick.time or delivery.publish_time)
        delivery = dataclasses.replace(delivery, payload=pinned.to_json())
        plan = plan_drill(pinned, delivery.publish_time, config, ComputeGateway.for_config(config))
        fields["slot"] = plan.slot
        unread = [f for f in plan.failures if f.error_class != "NotAllowed"]
        # A transient failure: the whole tick again (a partial sample would skew the
        # round-robin). A permanent one of the vault: the whole tick is dead-lettered.
        whole = [f for f in unread if f.transient or f.project not in plan.projects]
        if whole:
            first = whole[0]
            outcome = Outcome.TRANSIENT if first.transient else Outcome.PERMANENT
            error = f"snapshots of {first.project} not listed: {first.error}"
            raise ComputeError(error, outcome=outcome, status=None, reason=first.error_class)
        published = publish_work(plan.items, config)
    except Exception as exc:  # classified in there
        _give_up_or_retry(config, exc, delivery, ENUMERATOR, fields)
        return
    # A target project that cannot be read (permanent) is left out of this drill and
    # dead-lettered as a drill tick of its own, pinned to the slot, for a replay.
    for failure in unread:
        dead_letter(
            config,
            dataclasses.replace(pinned, projects=(failure.project,)).to_json(),
            {"project": failure.project, "kind": DRILL_KIND, "slot": plan.slot},
            error_class=failure.error_class,
            error=failure.error,
            attempts=delivery.attempt,
            function=ENUMERATOR,
        )
    logs.log(
        "WARNING" if plan.failures else "INFO",
        f"drill {plan.slot}: {published} of {plan.candidates} disks to restore",
        published=published,
        sample=plan.sample,
        candidates=plan.candidates,
        disks=[f"{i.project}/{i.location}/{i.disk}" for i in plan.items],
        failed_projects=[
            {"project": f.project, "error_class": f.error_class, "error": f.error}
            for f in plan.failures
        ]
        or None,
        duration_seconds=round(time.monotonic() - started, 3),
        **fields,
    )


def _drill(config: Config, delivery: Delivery, started: float, fields: dict[str, Any]) -> None:
    """A drill message -> a measured restore (cleaned up), a logged 'gone', or a dead
    letter with the reason (which the drill-failure alert counts)."""
    try:
        item = parse_drill(delivery.payload)
        fields |= item.log_fields
        gateway = ComputeGateway.for_config(config)
        result = run_drill(item, config, gateway, started + config.ready_wait_seconds)
    except Exception as exc:  # classified in there: nothing escapes unexamined
        fields.setdefault("kind", DRILL_KIND)
        _give_up_or_retry(config, exc, delivery, SNAPSHOTTER, fields)
        return
    if result.seconds is None:
        message = f"drill of {item.disk}: snapshot {item.snapshot} is gone; nothing restored"
    else:
        message = (
            f"drill of {item.disk}: {item.snapshot} restored in {result.seconds} s "
            f"({result.size_gb} GB), scratch disk deleted"
        )
    logs.info(
        message,
        drill_status=result.status,
        time_to_restore_seconds=result.seconds,
        size_gb=result.size_gb or None,
        scratch_disk=result.scratch_disk,
        swept=list(result.swept) or None,
        drilled=result.drilled or None,
        duration_seconds=round(time.monotonic() - started, 3),
        **fields,
    )
