"""The soak's fleet, drawn from a seed, and what it expects of each disk.

The expectation is written here independently of the library's label code, so that
the soak checks the pipeline against the README's rules rather than against itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime

PREFIX = "snapshot-"
SCHEDULES: dict[str, tuple[str, str]] = {
    # Staggered, so no two schedules of one disk meet the per-disk rate limit.
    "hourly": ("15 * * * *", "Etc/UTC"),
    "daily": ("0 3 * * *", "Etc/UTC"),
    "weekly": ("30 4 * * 0", "Etc/UTC"),
}
ZONES = ("us-central1-a", "us-central1-b", "europe-west1-b")
REGIONS = ("us-central1", "europe-west1")
OUTSIDER = "chaos-outsider"  # labelled disks in a project snapkeeper is not allowed into
VAULT = "chaos-vault"
MAX_KEEP = 1000


@dataclass
class DiskModel:
    project: str
    name: str
    location: str
    regional: bool
    labels: dict[str, str]
    instance: str | None = None  # the instance it is attached to, if any
    id: str = ""  # set once seeded (a re-created disk gets a new one)
    deleted: bool = False
    for_good: bool = False  # deleted, and not to be created again

    @property
    def key(self) -> str:
        return f"{self.project}/{self.location}/{self.name}"


@dataclass
class Fleet:
    projects: list[str]
    disks: list[DiskModel]
    instances: dict[tuple[str, str], dict[str, str]]  # (project, name) -> labels
    instance_zones: dict[tuple[str, str], str] = field(default_factory=dict)

    def keep(self, disk: DiskModel, schedule: str) -> int | None:
        """N for this disk and schedule as the README states the rules, or None when it
        takes no part (deleted, excluded, unlabelled, or a label that is not a valid N)."""
        if disk.deleted or disk.project == OUTSIDER:
            return None
        if disk.labels.get(f"{PREFIX}exclude") == "true":
            return None
        key = f"{PREFIX}{schedule}"
        value = disk.labels.get(key)
        if value is None and disk.instance:
            value = self.instances[(disk.project, disk.instance)].get(key)
        if value is None or not value.isdigit() or not 1 <= int(value) <= MAX_KEEP:
            return None
        return int(value)

    def by_id(self) -> dict[str, DiskModel]:
        return {d.id: d for d in self.disks if d.id}


def build_fleet(rng: random.Random, disks: int, projects: int, hourly: float) -> Fleet:
    """`disks` disks over `projects` allowed projects (and a few in an outsider one):
    zonal and regional, some opted in by their instance, some excluded, some with bad
    labels; daily on most, weekly on some, hourly on a fraction, several on one disk."""
    names = [f"chaos-p{i:02d}" for i in range(1, projects + 1)]
    fleet = Fleet(names, [], {})
    for index in range(disks):
        project = names[index % projects]
        regional = rng.random() < 0.2
        location = rng.choice(REGIONS) if regional else rng.choice(ZONES)
        labels: dict[str, str] = {"env": rng.choice(("prod", "staging"))}
        if rng.random() < 0.9:
            labels[f"{PREFIX}daily"] = str(rng.randint(2, 7))
        if rng.random() < 0.3:
            labels[f"{PREFIX}weekly"] = str(rng.randint(2, 4))
        if rng.random() < hourly:
            labels[f"{PREFIX}hourly"] = str(rng.randint(3, 6))
        roll = rng.random()
        if roll < 0.02:
            labels[f"{PREFIX}exclude"] = "true"
        elif roll < 0.03:
            labels[f"{PREFIX}daily"] = rng.choice(("seven", "0", "1001"))
        fleet.disks.append(DiskModel(project, f"disk-{index:05d}", location, regional, labels))
    _attach_instances(rng, fleet)
    for index in range(max(2, disks // 100)):
        labels = {f"{PREFIX}daily": "3"}
        fleet.disks.append(DiskModel(OUTSIDER, f"out-{index:03d}", ZONES[0], False, labels))
    return fleet


def _attach_instances(rng: random.Random, fleet: Fleet) -> None:
    """About a tenth of the zonal disks, two to an instance that opts them in: the disks
    lose their own daily label, but a few keep an override or an exclusion."""
    zonal = [d for d in fleet.disks if not d.regional and rng.random() < 0.1]
    for first, second in zip(zonal[::2], zonal[1::2], strict=False):
        if first.project != second.project or first.location != second.location:
            continue
        name = f"vm-{first.name}"
        fleet.instances[(first.project, name)] = {f"{PREFIX}daily": str(rng.randint(2, 5))}
        fleet.instance_zones[(first.project, name)] = first.location
        for disk in (first, second):
            disk.instance = name
            if rng.random() < 0.8:
                disk.labels.pop(f"{PREFIX}daily", None)


def mutate_labels(rng: random.Random, disk: DiskModel) -> str:
    """One label change between ticks; returns what it did."""
    labels = disk.labels
    schedules = [s for s in SCHEDULES if f"{PREFIX}{s}" in labels]
    kind = rng.choice(("lower", "raise", "add", "remove", "exclude"))
    if kind in ("lower", "raise") and schedules:
        schedule = rng.choice(schedules)
        value = labels[f"{PREFIX}{schedule}"]
        if value.isdigit():
            n = int(value)
            n = max(1, n - rng.randint(1, 3)) if kind == "lower" else n + rng.randint(1, 3)
            labels[f"{PREFIX}{schedule}"] = str(n)
            return f"{kind} {schedule} to {n}"
    if kind == "remove" and schedules:
        schedule = rng.choice(schedules)
        del labels[f"{PREFIX}{schedule}"]
        return f"remove {schedule}"
    if kind == "exclude":
        if labels.pop(f"{PREFIX}exclude", None):
            return "include again"
        labels[f"{PREFIX}exclude"] = "true"
        return "exclude"
    missing = [s for s in ("daily", "weekly") if f"{PREFIX}{s}" not in labels]
    if not missing:
        return "none"
    schedule = rng.choice(missing)
    labels[f"{PREFIX}{schedule}"] = str(rng.randint(2, 4))
    return f"add {schedule}"


def fire_times(start: datetime, end: datetime) -> list[tuple[datetime, str]]:
    """Every (time, schedule) tick in [start, end), in order."""
    from croniter import croniter

    ticks = []
    for schedule, (cron, _) in SCHEDULES.items():
        times = croniter(cron, start.replace(tzinfo=None), ret_type=datetime)
        moment = times.get_prev()
        while True:
            moment = times.get_next()
            if moment >= end.replace(tzinfo=None):
                break
            ticks.append((moment.replace(tzinfo=start.tzinfo), schedule))
    return sorted(ticks)
