"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from snapkeeper.messages import Tick, WorkItem
from snapkeeper.naming import SnapshotKey, snapshot_name
from snapkeeper_local.stack import LocalStack, wait_for

ZONE = "us-central1-a"
REGION = "us-central1"
INSERT = "compute.snapshots.insert"
_days = itertools.count()


def fresh_day() -> datetime:
    """A day no other test in this run uses, so slots (and log lines) never mix."""
    return datetime(2027, 1, 1, 3, 0, tzinfo=UTC) + timedelta(days=40 * next(_days))


def daily(at: datetime, **extra: Any) -> Tick:
    return Tick("daily", "0 3 * * *", "Etc/UTC", at, **extra)


def run_tick(stack: LocalStack, tick: Tick) -> Any:
    """Move the fake clock to the tick's time, then run it end to end."""
    assert stack.compute is not None and tick.time is not None
    stack.compute.admin.set_clock(tick.time)
    return stack.run_tick(tick)


def run_fresh_day(stack: LocalStack) -> Any:
    """The daily tick of a day no other test uses, run end to end (see `run_tick`)."""
    return run_tick(stack, daily(fresh_day()))


def managed(stack: LocalStack, project: str, disk: str | None = None) -> list[dict[str, Any]]:
    """Snapshots snapkeeper made in `project` (optionally of one disk), as the API shows."""
    assert stack.compute is not None
    found = []
    for snapshot in stack.compute.admin.snapshots():
        labels = snapshot.get("labels", {})
        if labels.get("managed-by") != "snapkeeper":
            continue
        if f"/projects/{project}/" not in snapshot["selfLink"]:
            continue
        if disk and not snapshot["sourceDisk"].endswith(f"/disks/{disk}"):
            continue
        found.append(snapshot)
    return found


def seed_daily_disks(stack: LocalStack, *disks: str, keep: str = "2") -> list[dict[str, Any]]:
    """Zonal disks in ZONE labelled snapshot-daily=`keep`, each named "project/disk" (the
    fake makes a disk's project when it has none yet); their API JSON."""
    assert stack.compute is not None
    return [
        stack.compute.admin.seed_disk(project, name, zone=ZONE, labels={"snapshot-daily": keep})
        for project, name in (disk.split("/") for disk in disks)
    ]


def daily_work(project: str, disk: str, disk_id: str, slot: str, keep: int) -> WorkItem:
    """A work message of the daily schedule for a zonal disk in ZONE."""
    return WorkItem(project, ZONE, False, disk, disk_id, "daily", slot, keep=keep)


def daily_name(disk: dict[str, Any], slot: str) -> str:
    """The name snapkeeper gives the daily snapshot of a zonal disk in ZONE (from its API
    JSON) for `slot`."""
    project = disk["selfLink"].split("/projects/")[1].split("/")[0]
    return snapshot_name(SnapshotKey(project, ZONE, disk["id"], disk["name"], "daily", slot))


def successful_inserts(stack: LocalStack) -> list[dict[str, Any]]:
    assert stack.compute is not None
    return [
        r
        for r in stack.compute.admin.requests()
        if r["api_method"] == INSERT and r["status"] == 200
    ]


def retries(stack: LocalStack, slot: str, kind: str = "will retry") -> list[dict[str, Any]]:
    """The snapshot function's 'will retry' log lines for one slot (or those starting
    with `kind`, e.g. "re-queued": rate-limited work)."""
    assert stack.snapshotter is not None
    return [
        e
        for e in stack.snapshotter.log_entries()
        if e.get("slot") == slot and e["message"].startswith(kind)
    ]


def slot_dead_letters(stack: LocalStack, slot: str, timeout: float = 30) -> Any:
    """The dead letters of one slot's work, once there is one."""
    return wait_for(
        lambda: [d for d in stack.dead_letters() if d["payload"].get("slot") == slot],
        timeout,
        f"a dead letter of slot {slot}",
    )


def post_as_eventarc(stack: LocalStack, item: WorkItem, attempt: int) -> requests.Response:
    """Deliver a work message to the snapshot function as a binary CloudEvent, the way
    Eventarc does, with `deliveryAttempt` (which the emulator's push never carries)."""
    assert stack.snapshotter is not None
    data = {
        "message": {
            "data": base64.b64encode(item.to_json()).decode(),
            "messageId": f"eventarc-{attempt}",
            "publishTime": "2027-01-01T03:00:00Z",
            "attributes": {},
        },
        "subscription": "projects/x/subscriptions/y",
        "deliveryAttempt": attempt,
    }
    headers = {
        "ce-id": f"eventarc-{attempt}",
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": "//pubsub.googleapis.com/projects/x/topics/snapkeeper-work",
        "Content-Type": "application/json",
    }
    return requests.post(stack.snapshotter.url, data=json.dumps(data), headers=headers, timeout=60)
