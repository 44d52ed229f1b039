"""The enumeration step for one tick: find every disk that takes part in the tick's
schedule, in every allowed project in parallel, and publish one work message per disk.

Cost per project: one instances.aggregatedList page per 500 labelled instances, and one
disks.aggregatedList page per 500 disks (label-filtered unless an instance opts its
disks in, in which case the disks' own labels are needed for exclusion and overrides).
With target folders or an organization, first one projects.list and one folders.list
per folder under them (snapkeeper.hierarchy).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from snapkeeper import clients, labels, orphans, slots
from snapkeeper.compute import ComputeGateway, Disk, has_label_filter, managed_filter
from snapkeeper.config import Config
from snapkeeper.errors import ComputeError, Outcome, TransientError
from snapkeeper.hierarchy import Scope
from snapkeeper.messages import DiskMessage, DrillItem, OrphanWork, Tick, WorkItem
from snapkeeper.options import ScheduleOptions
from snapkeeper.snapshotter import labels_fresh_until

# Listing is I/O: every project of a tick at once (up to this many), so a tick's listing
# takes about as long as its slowest project's.
MAX_PARALLEL_PROJECTS = 128
PUBLISH_TIMEOUT = 60.0


@dataclass(frozen=True)
class SkippedDisk:
    project: str
    location: str
    disk: str
    reason: str


@dataclass(frozen=True)
class ProjectFailure:
    project: str
    error_class: str
    error: str
    transient: bool = False  # retried as a tick of its own; else dead-lettered


@dataclass
class ProjectsPlan:
    """What a tick covers: the projects it reads, and in `failures` those it could not
    read or may not touch, for the caller to retry or dead-letter."""

    slot: str
    projects: tuple[str, ...]
    failures: list[ProjectFailure] = field(default_factory=list)


@dataclass(kw_only=True)
class TickPlan(ProjectsPlan):
    schedule: str
    work: list[WorkItem] = field(default_factory=list)
    skipped: list[SkippedDisk] = field(default_factory=list)
    disks_seen: int = 0
    orphans: list[orphans.Orphans] = field(default_factory=list)  # every one found
    orphan_work: list[OrphanWork] = field(default_factory=list)  # those to prune now
    disk_ids: set[str] = field(default_factory=set)  # every disk's, when orphans were sought


def tick_projects(
    tick: Tick, config: Config, scope: Scope | None = None
) -> tuple[list[str], list[ProjectFailure]]:
    """The projects a tick covers: its own list (if any) within the allow-list, else
    every project of the deployment (folders and organization resolved now). Raises
    ApiError when Resource Manager cannot tell."""
    scope = scope or Scope(config)
    wanted = list(tick.projects) or scope.projects()
    verdicts = {p: scope.allows(p) for p in wanted}
    allowed = [p for p in wanted if verdicts[p]]
    refused = [ProjectFailure(p, "NotAllowed", scope.refusal(p)) for p in wanted if not verdicts[p]]
    return allowed, refused


@dataclass
class Discovery:
    """One project's part of a tick."""

    work: list[WorkItem] = field(default_factory=list)
    skipped: list[SkippedDisk] = field(default_factory=list)
    seen: int = 0
    orphans: list[orphans.Orphans] = field(default_factory=list)
    disk_ids: set[str] = field(default_factory=set)  # every disk's, when orphans were sought


@dataclass(frozen=True)
class Freshness:
    """When a project's labels were read and until when they stand (RFC 3339 both)."""

    read_at: str
    until: str


def discover(
    project: str,
    tick: Tick,
    slot: str,
    config: Config,
    gateway: ComputeGateway,
    *,
    find_orphans: bool = False,
) -> Discovery:
    """One project's work items and skipped disks for the tick's schedule, and with
    `find_orphans` its orphans: then the disk listing is not label-filtered (a disk
    is gone only if no page of the complete listing holds its id) and the schedule's
    managed snapshots are listed once (the vault's, or the project's)."""
    schedule, options = tick.schedule, tick.options
    # Before the listings: the labels the work messages carry are at least this recent.
    read_at = datetime.now(UTC)
    fresh = Freshness(
        read_at.isoformat(),
        labels_fresh_until(read_at, slots.parse_slot(slot), tick.cron, tick.time_zone).isoformat(),
    )
    # A disk's snapshot-location label wins, then the schedule's, then the deployment's.
    default_location = options.storage_location or config.default_storage_location
    key = labels.ControlLabels(config.label_prefix).schedule(schedule)
    opted_instances = list(gateway.instances(project, has_label_filter(key)))
    by_disk: dict[str, dict[str, dict[str, str]]] = {}
    for instance in opted_instances:
        for path in instance.disk_paths:
            by_disk.setdefault(path, {})[instance.name] = dict(instance.labels)
    every_disk = bool(opted_instances) or find_orphans
    disks = gateway.disks(project, None if every_disk else has_label_filter(key))
    found = Discovery()
    disk_ids: set[str] = set()
    for disk in disks:
        found.seen += 1
        disk_ids.add(disk.id)
        policy = labels.resolve_policy(
            schedule,
            disk.labels,
            by_disk.get(disk.path, {}),
            config.label_prefix,
            default_location,
        )
        if isinstance(policy, labels.Skip):
            found.skipped.append(SkippedDisk(project, disk.location, disk.name, policy.reason))
        elif policy is not None:
            found.work.append(_work_item(disk, policy, slot, options, fresh))
    if find_orphans:
        deployment = config.deployment_id
        where = config.snapshot_project or project
        listed = gateway.snapshots(where, managed_filter(schedule=schedule, deployment=deployment))
        found.orphans = orphans.find(listed, disk_ids, project, deployment)
        found.disk_ids = disk_ids
    return found


def _work_item(
    disk: Disk, policy: labels.DiskPolicy, slot: str, options: ScheduleOptions, fresh: Freshness
) -> WorkItem:
    return WorkItem(
        project=disk.project,
        location=disk.location,
        regional=disk.regional,
        disk=disk.name,
        disk_id=disk.id,
        schedule=policy.schedule,
        slot=slot,
        keep=policy.keep,
        source=policy.source,
        storage_location=policy.storage_location,
        guest_flush=policy.guest_flush,
        disk_labels=dict(disk.labels),
        options=options.to_mapping(),
        labels_read_at=fresh.read_at,
        labels_fresh_until=fresh.until,
    )


def plan_tick(
    tick: Tick,
    at: datetime,
    config: Config,
    gateway: ComputeGateway,
    scope: Scope | None = None,
    *,
    find_orphans: bool | None = None,
) -> TickPlan:
    """Everything a tick would do, without writing anything (the CLI's `plan` too).
    Orphans are looked for when ORPHAN_POLICY acts (or `find_orphans` says so); an
    orphan message is planned for each deleted disk the policy would prune now."""
    if find_orphans is None:
        find_orphans = config.orphan_policy.acts
    slot = slots.format_slot(slots.slot_for(tick.time or at, tick.cron, tick.time_zone))
    projects, refused = tick_projects(tick, config, scope)
    plan = TickPlan(slot, tuple(projects), refused, schedule=tick.schedule)
    if not projects:
        return plan
    workers = min(MAX_PARALLEL_PROJECTS, len(projects))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="enumerate") as pool:
        futures = {
            project: pool.submit(
                discover,
                project,
                tick,
                slot,
                config,
                gateway,
                find_orphans=find_orphans,
            )
            for project in projects
        }
        for project, future in futures.items():
            try:
                found = future.result()
            except Exception as exc:  # one project's failure never holds back the others
                outcome = exc.outcome if isinstance(exc, ComputeError) else Outcome.TRANSIENT
                plan.failures.append(
                    ProjectFailure(
                        project,
                        type(exc).__name__,
                        str(exc) or type(exc).__name__,
                        transient=outcome is Outcome.TRANSIENT,
                    )
                )
                continue
            plan.work.extend(found.work)
            plan.skipped.extend(found.skipped)
            plan.disks_seen += found.seen
            plan.orphans.extend(found.orphans)
            plan.disk_ids |= found.disk_ids
    now = slots.parse_slot(slot)  # never later than the tick: ages never overstated
    for group in plan.orphans:
        pruned = orphans.plan(group.snapshots, config.orphan_policy, config, tick.options, now)
        if pruned.delete:
            plan.orphan_work.append(group.message(slot, tick.options))
    return plan


def publish_work(items: Iterable[DiskMessage | DrillItem], config: Config) -> int:
    """Publish every item (batched) and wait for all; raise TransientError if any failed,
    so the tick is redelivered (republishing is harmless: names are deterministic)."""
    publisher = clients.publisher(config.endpoints.pubsub)
    topic = config.topic_path(config.work_topic)
    futures = [
        publisher.publish(topic, item.to_json(), **item.attributes, slot=item.slot)
        for item in items
    ]
    errors = []
    for future in futures:
        try:
            future.result(timeout=PUBLISH_TIMEOUT)
        except Exception as exc:  # every publish is waited for before deciding
            errors.append(exc)
    if errors:
        raise TransientError(
            f"{len(errors)} of {len(futures)} work messages not published: {errors[0]}"
        )
    return len(futures)


def publish_tick(tick: Tick, config: Config) -> str:
    """Publish a tick to the ticks topic (a failed project's retry); its message id."""
    publisher = clients.publisher(config.endpoints.pubsub)
    future = publisher.publish(config.topic_path(config.tick_topic), tick.to_json())
    try:
        return str(future.result(timeout=PUBLISH_TIMEOUT))
    except Exception as exc:
        raise TransientError(f"retry tick for {list(tick.projects)} not published: {exc}") from exc


def summary(plan: TickPlan, published: int, started: float) -> dict[str, Any]:
    """The one structured log line per tick."""
    return {
        "schedule": plan.schedule,
        "slot": plan.slot,
        "projects": len(plan.projects),
        "disks_found": plan.disks_seen,
        "published": published,
        "orphans_found": len(plan.orphans),
        "orphan_messages": len(plan.orphan_work),
        "skipped": [
            {"project": s.project, "location": s.location, "disk": s.disk, "reason": s.reason}
            for s in plan.skipped
        ],
        "failed_projects": [
            {
                "project": f.project,
                "error_class": f.error_class,
                "error": f.error,
                "transient": f.transient,
            }
            for f in plan.failures
        ],
        "duration_seconds": round(time.monotonic() - started, 3),
    }
