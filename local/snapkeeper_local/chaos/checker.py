"""The soak's invariants, read from the fake Compute Engine's state and the dead letters
after every tick has settled. Each broken rule is a Violation naming what and where."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MANAGED = ("managed-by", "snapkeeper")
PIN = "snapshot-keep"
IN_FLIGHT = frozenset({"CREATING", "UPLOADING"})
REASONS = ("error_class", "error", "attempts")
PUBSUB_DELIVERY_COUNT = "CloudPubSubDeadLetterSourceDeliveryCount"
MAX_DELETES_PER_RUN = 3  # the snapshot function's default brake
RATE_LIMITED = "RateLimited"  # the error class of the rate quota's refusal
RECORDED_KEEP = "snapkeeper-keep"  # the disk's N when the snapshot was taken
KEEP_NEWEST = "keep-newest"  # the ORPHAN_POLICY that prunes a deleted disk's snapshots to N


@dataclass(frozen=True)
class Shot:
    """One snapshot as the API shows it."""

    project: str
    name: str
    status: str
    labels: Mapping[str, str]

    @property
    def managed(self) -> bool:
        return self.labels.get(MANAGED[0]) == MANAGED[1]

    @property
    def pinned(self) -> bool:
        return self.labels.get(PIN) == "true"

    @property
    def retained(self) -> bool:
        """A READY unpinned managed snapshot: one retention counts."""
        return self.managed and not self.pinned and self.status == "READY"

    @property
    def series(self) -> tuple[str, str]:
        """(disk id, schedule) of a managed snapshot."""
        return self.labels.get("snapkeeper-disk-id", ""), self.labels.get("snapkeeper-schedule", "")

    @property
    def slot(self) -> str:
        return self.labels.get("snapkeeper-slot", "")

    @property
    def ref(self) -> str:
        return f"{self.project}/{self.name}"


def read_shots(raw: Iterable[Mapping[str, Any]]) -> dict[str, Shot]:
    shots = {}
    for item in raw:
        project = item["selfLink"].split("/projects/")[1].split("/")[0]
        shot = Shot(project, item["name"], item["status"], dict(item.get("labels", {})))
        shots[shot.ref] = shot
    return shots


@dataclass(frozen=True)
class Expected:
    """A (disk, schedule, slot) the tick must end as a READY snapshot or a dead letter."""

    disk_id: str
    disk: str  # project/location/name, for messages
    project: str
    schedule: str
    slot: str
    keep: int


@dataclass(frozen=True)
class Violation:
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


@dataclass
class Round:
    """What one settled round (a tick, a replay, a catch-up) was meant to do."""

    expected: list[Expected]
    work_letters: set[tuple[str, str, str]]  # (disk id, schedule, slot) dead-lettered
    project_letters: set[tuple[str, str, str]]  # (project, schedule, slot) dead-lettered
    gone: set[str]  # disk ids deleted during the round
    untouchable: set[str]  # disk ids: excluded, bad labels, or in a project not allowed
    keep_now: dict[tuple[str, str], int] = field(default_factory=dict)  # series -> N
    # Series -> deletes the write quota left to the series' next run (`prune_deferred`
    # on a done line): that many more than N may stay until then.
    deferred: dict[tuple[str, str], int] = field(default_factory=dict)
    # The schedule a tick of this round enumerated (its orphans are pruned), if any.
    orphan_schedule: str | None = None
    drill_letters: int = 0  # dead letters of drills (or of a drill tick's project)

    @property
    def touched(self) -> set[tuple[str, str]]:
        """The (disk id, schedule) series the round was meant to snapshot."""
        return {(e.disk_id, e.schedule) for e in self.expected}

    @property
    def slots(self) -> set[tuple[str, str, str]]:
        """The (disk id, schedule, slot) the round was meant to fill."""
        return {(e.disk_id, e.schedule, e.slot) for e in self.expected}


@dataclass
class Checker:
    """Carries the last settled state from round to round."""

    before: dict[str, Shot] = field(default_factory=dict)
    ever_ready: set[tuple[str, str, str]] = field(default_factory=set)
    orphans: set[str] = field(default_factory=set)  # disk ids deleted
    orphan_policy: str = "keep"  # ORPHAN_POLICY: keep, or keep-newest
    _managed: dict[tuple[str, str], list[Shot]] = field(default_factory=dict)
    # Per series, the READY unpinned snapshots there before and there now (set by check).
    _retained: dict[tuple[str, str], tuple[dict[str, Shot], dict[str, Shot]]] = field(
        default_factory=dict
    )
    # READY snapshots the last round's runs were entitled to delete and left (the brake,
    # a deferred delete, or a delete that timed out at the client and that Compute
    # finishes later): one gone by a later round is no violation.
    due: set[str] = field(default_factory=set)

    def baseline(self, shots: dict[str, Shot]) -> None:
        self.before = shots
        self._remember_ready(shots)

    def check(self, shots: dict[str, Shot], round_: Round) -> list[Violation]:
        # A month holds thousands of snapshots: each series' READY ones are looked up, not
        # searched for.
        self._retained = retained_by_series(self.before.values(), shots.values())
        self._managed = defaultdict(list)  # every managed snapshot, any status, per series
        for shot in (*self.before.values(), *shots.values()):
            if shot.managed:
                self._managed[shot.series].append(shot)
        found: list[Violation] = []
        found += self._one_per_slot(shots)
        found += self._deletions(shots, round_)
        found += self._coverage(shots, round_)
        found += self._exactly_n(shots, round_)
        found += self._untouched(shots, round_)
        found += self._orphans_at_n(shots, round_)
        self.due = self._left_due(round_)
        self.orphans |= round_.gone
        self.before = shots
        self._remember_ready(shots)
        return found

    def _remember_ready(self, shots: dict[str, Shot]) -> None:
        for shot in shots.values():
            if shot.managed and shot.status == "READY":
                self.ever_ready.add((*shot.series, shot.slot))

    @staticmethod
    def _one_per_slot(shots: dict[str, Shot]) -> list[Violation]:
        seen: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for shot in shots.values():
            if shot.managed and shot.status != "FAILED":
                seen[(*shot.series, shot.slot)].append(shot.ref)
        return [
            Violation("one snapshot per disk and slot", f"{key}: {refs}")
            for key, refs in seen.items()
            if len(refs) > 1
        ]

    def _deletions(self, shots: dict[str, Shot], round_: Round) -> list[Violation]:
        touched, slots_now = round_.touched, round_.slots
        found = []
        for ref, old in self.before.items():
            if ref in shots:
                continue
            if not old.managed:
                found.append(Violation("never delete an unmanaged snapshot", ref))
            elif old.pinned:
                found.append(Violation("never delete a pinned snapshot", ref))
            elif old.status in IN_FLIGHT:
                found.append(Violation(f"never delete a {old.status} snapshot", ref))
            elif old.series[0] in self.orphans or old.series[0] in round_.gone:
                if self.orphan_policy != KEEP_NEWEST:
                    found.append(Violation("keep a deleted disk's snapshots", ref))
                elif old.status == "READY" and ref in self._orphan_keepers(old.series):
                    found.append(Violation("a deleted disk keeps its newest N", ref))
            elif old.status == "READY" and old.series not in touched:
                if ref not in self.due:
                    found.append(Violation("never delete another disk's or schedule's", ref))
            elif old.status == "READY" and ref in self._keepers(old.series, round_):
                found.append(Violation("never delete one of the newest N READY", ref))
            elif (*old.series, old.slot) in slots_now:
                found.append(Violation("never delete the slot's own snapshot", ref))
        return found

    def _pool(self, series: tuple[str, str]) -> dict[str, Shot]:
        """The READY unpinned snapshots of a series, there before or appeared since."""
        before, now = self._retained.get(series, ({}, {}))
        return before | now

    def _held(self, series: tuple[str, str]) -> dict[str, Shot]:
        """The READY unpinned snapshots of a series there now."""
        return self._retained.get(series, ({}, {}))[1]

    def _keepers(self, series: tuple[str, str], round_: Round) -> set[str]:
        """The newest N READY of a series among what was there and what appeared."""
        keep = round_.keep_now.get(series, 0)
        pool = self._pool(series).values()
        newest = sorted(pool, key=lambda s: (s.slot, s.name), reverse=True)
        return {s.ref for s in newest[:keep]}

    def _orphan_keepers(self, series: tuple[str, str]) -> set[str]:
        """The newest N READY of a deleted disk's series, N as its newest snapshot
        recorded it (without a record: all it holds)."""
        pool = self._pool(series).values()
        newest = sorted(pool, key=lambda s: (s.slot, s.name), reverse=True)
        every = self._managed.get(series, [])
        recorded = [s for s in every if s.labels.get(RECORDED_KEEP, "").isdigit()]
        if not recorded:
            return {s.ref for s in newest}
        keep = int(max(recorded, key=lambda s: (s.slot, s.name)).labels[RECORDED_KEEP])
        return {s.ref for s in newest[: max(keep, 1)]}

    def _orphans_at_n(self, shots: dict[str, Shot], round_: Round) -> list[Violation]:
        """After a tick, each deleted disk's series of the tick's schedule holds its
        newest N READY and no more (but for what the brake or the write quota leaves to
        the next tick), unless its project's tick or its orphan message was dead-lettered."""
        if self.orphan_policy != KEEP_NEWEST or round_.orphan_schedule is None:
            return []
        lettered = {(d, s) for d, s, _ in round_.work_letters}
        projects_lettered = {p for p, s, _ in round_.project_letters}
        found = []
        for series, (_, now) in self._retained.items():
            disk_id, schedule = series
            if disk_id not in self.orphans or schedule != round_.orphan_schedule:
                continue
            if series in lettered:
                continue
            if any(s.project in projects_lettered for s in now.values()):
                continue
            keepers = self._orphan_keepers(series)
            due = len(set(self._pool(series)) - keepers)
            allowed = max(0, due - MAX_DELETES_PER_RUN) + round_.deferred.get(series, 0)
            if len(set(now) - keepers) > allowed:
                found.append(
                    Violation(
                        "a deleted disk's snapshots pruned to N",
                        f"disk {disk_id} {schedule}: extra {sorted(set(now) - keepers)}",
                    )
                )
        return found

    def _coverage(self, shots: dict[str, Shot], round_: Round) -> list[Violation]:
        return [
            Violation("slot READY or dead-lettered", f"{e.disk} {e.schedule} {e.slot}")
            for e in unresolved(round_.expected, shots, round_, round_.gone)
        ]

    def _exactly_n(self, shots: dict[str, Shot], round_: Round) -> list[Violation]:
        touched = round_.touched
        lettered = {(d, s) for d, s, _ in round_.work_letters}
        # A project whose tick was dead-lettered (its permission lost) was not run at all:
        # its series keep what they held, a deferred delete included, until a later run.
        lettered |= {
            (e.disk_id, e.schedule)
            for e in round_.expected
            if (e.project, e.schedule, e.slot) in round_.project_letters
        }
        found = []
        for series in touched:
            if series in lettered or series[0] in round_.gone:
                continue
            held = set(self._held(series))
            wanted = self._wanted(series, round_)
            # The brake: one run deletes at most MAX_DELETES_PER_RUN, the oldest first, so
            # a lowered N takes effect over several ticks (what it holds back is logged).
            due = len(set(self._pool(series)) - wanted)
            held_back = held - wanted
            allowed = max(0, due - MAX_DELETES_PER_RUN) + round_.deferred.get(series, 0)
            if wanted - held or len(held_back) > allowed:
                keep = round_.keep_now.get(series, 0)
                extra, missing = sorted(held_back), sorted(wanted - held)
                found.append(
                    Violation(
                        "exactly N READY once settled",
                        f"disk {series[0]} {series[1]} N={keep}: extra {extra} missing {missing}",
                    )
                )
        return found

    def _wanted(self, series: tuple[str, str], round_: Round) -> set[str]:
        """What a run of the series keeps: its newest N READY and the slot's own."""
        own = {ref for ref, s in self._held(series).items() if (*series, s.slot) in round_.slots}
        return self._keepers(series, round_) | own

    def _left_due(self, round_: Round) -> set[str]:
        """The READY snapshots of the round's series beyond what their runs keep."""
        due: set[str] = set()
        for series in round_.touched:
            due |= set(self._held(series)) - self._wanted(series, round_)
        return due

    def _untouched(self, shots: dict[str, Shot], round_: Round) -> list[Violation]:
        return [
            Violation("nothing of an excluded disk or unallowed project", shot.ref)
            for ref, shot in shots.items()
            if ref not in self.before and shot.managed and shot.series[0] in round_.untouchable
        ]


def retained_by_series(
    before: Iterable[Shot], now: Iterable[Shot]
) -> dict[tuple[str, str], tuple[dict[str, Shot], dict[str, Shot]]]:
    """(disk id, schedule) -> (its READY unpinned snapshots in `before`, in `now`)."""
    index: dict[tuple[str, str], tuple[dict[str, Shot], dict[str, Shot]]] = {}
    for place, shots in enumerate((before, now)):
        for shot in shots:
            if shot.retained:
                index.setdefault(shot.series, ({}, {}))[place][shot.ref] = shot
    return index


def unresolved(
    expected: Iterable[Expected], shots: dict[str, Shot], round_: Round, gone: set[str]
) -> list[Expected]:
    """The expected slots that have neither a READY snapshot nor a dead letter (of the
    work or of its project's tick), of disks not deleted."""
    ready = {(*s.series, s.slot) for s in shots.values() if s.managed and s.status == "READY"}
    return [
        e
        for e in expected
        if (e.disk_id, e.schedule, e.slot) not in ready
        and (e.disk_id, e.schedule, e.slot) not in round_.work_letters
        and (e.project, e.schedule, e.slot) not in round_.project_letters
        and e.disk_id not in gone
    ]


def letter_violations(letters: Iterable[Mapping[str, Any]]) -> list[Violation]:
    """Every dead letter says why: error_class, error and attempts. A letter Pub/Sub
    forwarded itself (the function never saw the last attempt: its process died) carries
    Pub/Sub's delivery count instead; the last error is in the function's log. The rate
    quota never makes a dead letter (its work is re-queued)."""
    found = []
    for letter in letters:
        attributes = letter["attributes"]
        if attributes.get("error_class") == RATE_LIMITED:
            what = letter["payload"].get("disk") or letter["payload"].get("projects")
            found.append(Violation("no dead letter for the rate quota", f"{what}"))
        missing = [r for r in REASONS if r not in attributes]
        if missing and PUBSUB_DELIVERY_COUNT not in attributes:
            what = letter["payload"].get("disk") or letter["payload"].get("projects")
            found.append(Violation("every dead letter carries its reason", f"{what}: {missing}"))
    return found
