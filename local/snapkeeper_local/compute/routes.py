"""URL map of the fake: each real REST path names its API method (the endpoint)."""

from __future__ import annotations

from werkzeug.routing import Map

from ..routing import RouteTable, rules, url_map

PREFIX = "/compute/v1/projects/<project>"

# (path, HTTP method, API method id as in the real discovery document)
API_ROUTES: RouteTable = (
    ("", "GET", "compute.projects.get"),
    ("/aggregated/disks", "GET", "compute.disks.aggregatedList"),
    ("/zones/<zone>/disks", "GET", "compute.disks.list"),
    ("/zones/<zone>/disks", "POST", "compute.disks.insert"),
    ("/zones/<zone>/disks/<disk>", "GET", "compute.disks.get"),
    ("/zones/<zone>/disks/<disk>", "DELETE", "compute.disks.delete"),
    ("/zones/<zone>/disks/<resource>/setLabels", "POST", "compute.disks.setLabels"),
    ("/zones/<zone>/disks/<disk>/createSnapshot", "POST", "compute.disks.createSnapshot"),
    ("/regions/<region>/disks", "GET", "compute.regionDisks.list"),
    ("/regions/<region>/disks", "POST", "compute.regionDisks.insert"),
    ("/regions/<region>/disks/<disk>", "GET", "compute.regionDisks.get"),
    ("/regions/<region>/disks/<disk>", "DELETE", "compute.regionDisks.delete"),
    ("/regions/<region>/disks/<resource>/setLabels", "POST", "compute.regionDisks.setLabels"),
    (
        "/regions/<region>/disks/<disk>/createSnapshot",
        "POST",
        "compute.regionDisks.createSnapshot",
    ),
    ("/aggregated/instances", "GET", "compute.instances.aggregatedList"),
    ("/zones/<zone>/instances", "GET", "compute.instances.list"),
    ("/zones/<zone>/instances/<instance>", "GET", "compute.instances.get"),
    ("/global/snapshots", "GET", "compute.snapshots.list"),
    ("/global/snapshots", "POST", "compute.snapshots.insert"),
    ("/global/snapshots/<snapshot>", "GET", "compute.snapshots.get"),
    ("/global/snapshots/<snapshot>", "DELETE", "compute.snapshots.delete"),
    ("/global/snapshots/<snapshot>/setLabels", "POST", "compute.snapshots.setLabels"),
    ("/global/operations/<operation>", "GET", "compute.globalOperations.get"),
    ("/global/operations/<operation>/wait", "POST", "compute.globalOperations.wait"),
    ("/zones/<zone>/operations/<operation>", "GET", "compute.zoneOperations.get"),
    ("/zones/<zone>/operations/<operation>/wait", "POST", "compute.zoneOperations.wait"),
    ("/regions/<region>/operations/<operation>", "GET", "compute.regionOperations.get"),
    ("/regions/<region>/operations/<operation>/wait", "POST", "compute.regionOperations.wait"),
)

# The admin API (plain JSON, not Google's shapes): (path, HTTP method, handler name).
ADMIN_ROUTES: RouteTable = (
    ("/_fake/reset", "POST", "reset"),
    ("/_fake/projects", "POST", "seed_projects"),
    ("/_fake/disks", "POST", "seed_disks"),
    ("/_fake/instances", "POST", "seed_instances"),
    ("/_fake/snapshots", "POST", "seed_snapshots"),
    ("/_fake/snapshots", "GET", "all_snapshots"),
    ("/_fake/clock", "GET", "get_clock"),
    ("/_fake/clock", "POST", "set_clock"),
    ("/_fake/config", "GET", "get_config"),
    ("/_fake/config", "POST", "set_config"),
    ("/_fake/faults", "GET", "list_faults"),
    ("/_fake/faults", "POST", "add_fault"),
    ("/_fake/faults", "DELETE", "clear_faults"),
    ("/_fake/quotas", "GET", "get_quotas"),
    ("/_fake/quotas", "POST", "set_quotas"),
    ("/_fake/requests", "GET", "list_requests"),
    ("/_fake/requests", "DELETE", "clear_requests"),
)


def build_map() -> Map:
    return url_map(rules(API_ROUTES, prefix=PREFIX) + rules(ADMIN_ROUTES, kind="admin"))
