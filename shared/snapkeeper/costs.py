"""What this deployment's snapshots cost to keep: per project, schedule and disk the
snapshots held and their `storageBytes`, an estimated monthly cost at list prices
(STANDARD and ARCHIVE apart), the disks that cost most, and each snapshot project's
SNAPSHOTS quota.

Estimates only: `storageBytes` is what Compute reports per snapshot (a chain's first
snapshot holds most of the data, later ones the changes), multiplied by the list price
of its type. Network, retrieval of ARCHIVE data and discounts are not counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from snapkeeper import labels
from snapkeeper.compute import ComputeGateway, Snapshot, parse_disk_path
from snapkeeper.errors import ComputeError, ConfigError
from snapkeeper.retention import ARCHIVE

GIB = 2**30
# Snapshot storage list prices, USD per GiB-month (regional storage, us-central1), as
# Google's Compute Engine disk pricing page listed them on this date. Multi-regional
# storage and other regions cost more: override with `snapkeeper status --cost --prices`.
PRICES_AS_OF = "2024-06-01"
LIST_PRICES = {"standard": 0.05, "archive": 0.019}
TOP_DISKS = 10
MAX_PARALLEL_QUOTAS = 8


@dataclass(frozen=True)
class Prices:
    standard: float = LIST_PRICES["standard"]
    archive: float = LIST_PRICES["archive"]
    as_of: str = PRICES_AS_OF  # "custom" when overridden

    def monthly(self, snapshot_type: str, storage_bytes: int) -> float:
        price = self.archive if snapshot_type == ARCHIVE else self.standard
        return storage_bytes / GIB * price


def parse_prices(text: str) -> Prices:
    """`standard=0.065,archive=0.019` (USD per GiB-month; either may be left out)."""
    values = dict(LIST_PRICES)
    for item in text.split(","):
        name, equals, value = (part.strip() for part in item.partition("="))
        if not equals or name not in values:
            raise ConfigError(
                f"{item.strip()!r} is not standard=<USD> or archive=<USD> (per GiB-month)"
            )
        try:
            values[name] = float(value)
        except ValueError:
            raise ConfigError(f"{value!r} is not a price in USD") from None
        if values[name] < 0:
            raise ConfigError(f"{name} price {value} is negative")
    return Prices(values["standard"], values["archive"], "custom")


@dataclass
class DiskCost:
    """One disk's snapshots of one schedule (of this deployment)."""

    project: str
    location: str
    disk: str
    disk_id: str
    schedule: str
    orphan: bool  # the disk is gone
    snapshots: int = 0
    standard_bytes: int = 0
    archive_bytes: int = 0
    standard_cost: float = 0.0  # USD per month
    archive_cost: float = 0.0

    @property
    def storage_bytes(self) -> int:
        return self.standard_bytes + self.archive_bytes

    @property
    def monthly(self) -> float:
        return self.standard_cost + self.archive_cost


@dataclass(frozen=True)
class ProjectQuota:
    project: str
    limit: float | None
    usage: float | None
    error: str = ""


@dataclass
class CostReport:
    prices: Prices
    rows: list[DiskCost] = field(default_factory=list)  # by project, schedule, disk
    top_disks: list[DiskCost] = field(default_factory=list)  # every schedule of a disk summed
    projects: list[DiskCost] = field(default_factory=list)  # every disk of a project summed
    quotas: list[ProjectQuota] = field(default_factory=list)

    @property
    def monthly(self) -> float:
        return sum(row.monthly for row in self.rows)

    @property
    def storage_bytes(self) -> int:
        return sum(row.storage_bytes for row in self.rows)


def disk_costs(
    snapshots: Iterable[Snapshot], disk_ids: Mapping[str, frozenset[str]], prices: Prices
) -> list[DiskCost]:
    """One row per source project, disk and schedule; `disk_ids`: every disk of each
    project read (a disk id not among its project's is an orphan's)."""
    rows: dict[tuple[str, str, str], DiskCost] = {}
    for snapshot in snapshots:
        source = parse_disk_path(snapshot.source_disk)
        disk_id = snapshot.labels.get(labels.DISK_ID, "")
        schedule = snapshot.labels.get(labels.SCHEDULE, "")
        if source is None or not disk_id:
            continue
        project, location, _, name = source
        key = (project, schedule, disk_id)
        if key not in rows:
            orphan = project in disk_ids and disk_id not in disk_ids[project]
            rows[key] = DiskCost(project, location, name, disk_id, schedule, orphan)
        row = rows[key]
        row.snapshots += 1
        cost = prices.monthly(snapshot.snapshot_type, snapshot.storage_bytes)
        if snapshot.snapshot_type == ARCHIVE:
            row.archive_bytes += snapshot.storage_bytes
            row.archive_cost += cost
        else:
            row.standard_bytes += snapshot.storage_bytes
            row.standard_cost += cost
    return [rows[key] for key in sorted(rows)]


def _add(total: DiskCost, row: DiskCost) -> None:
    total.snapshots += row.snapshots
    total.standard_bytes += row.standard_bytes
    total.archive_bytes += row.archive_bytes
    total.standard_cost += row.standard_cost
    total.archive_cost += row.archive_cost


def top_disks(rows: Iterable[DiskCost], count: int = TOP_DISKS) -> list[DiskCost]:
    """The disks that cost most, every schedule of a disk summed (schedule "*")."""
    disks: dict[tuple[str, str], DiskCost] = {}
    for row in rows:
        key = (row.project, row.disk_id)
        total = disks.setdefault(
            key, DiskCost(row.project, row.location, row.disk, row.disk_id, "*", row.orphan)
        )
        _add(total, row)
    ranked = sorted(disks.values(), key=lambda d: (-d.monthly, d.project, d.disk))
    return ranked[:count]


def by_project(rows: Iterable[DiskCost]) -> list[DiskCost]:
    """Every project's disks and schedules summed (disk and schedule "*")."""
    projects: dict[str, DiskCost] = {}
    for row in rows:
        total = projects.setdefault(row.project, DiskCost(row.project, "*", "*", "*", "*", False))
        _add(total, row)
    return [projects[name] for name in sorted(projects)]


def snapshot_quotas(projects: Iterable[str], gateway: ComputeGateway) -> list[ProjectQuota]:
    """The SNAPSHOTS quota of each project where snapshots are kept (one projects.get
    each, in parallel); a project that cannot be read says why."""

    def read(project: str) -> ProjectQuota:
        try:
            quota = gateway.quota(project)
        except ComputeError as exc:
            return ProjectQuota(project, None, None, str(exc))
        if quota is None:
            return ProjectQuota(project, None, None, "no SNAPSHOTS quota listed")
        return ProjectQuota(project, quota.limit, quota.usage)

    chosen = sorted(set(projects))
    if not chosen:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_QUOTAS, len(chosen))) as pool:
        return list(pool.map(read, chosen))


def report(
    snapshots: Iterable[Snapshot],
    disk_ids: Mapping[str, frozenset[str]],
    snapshot_projects: Iterable[str],
    gateway: ComputeGateway,
    prices: Prices | None = None,
) -> CostReport:
    prices = prices or Prices()
    rows = disk_costs(snapshots, disk_ids, prices)
    quotas = snapshot_quotas(snapshot_projects, gateway)
    return CostReport(prices, rows, top_disks(rows), by_project(rows), quotas)
