"""The fake Compute Engine's disks and instances, through the real google-cloud-compute
client: JSON shapes, aggregatedList paging and filters, errors."""

from __future__ import annotations

import os
from datetime import datetime

import pytest
import requests
from google.api_core import exceptions
from google.cloud import compute_v1

from snapkeeper_local.compute import AdminError, ComputeAdmin
from tests.fixtures_compute import ComputeClients, compute_clients

PROJECT = "workload-a"
ZONE = "us-central1-a"
SELF_LINK_ROOT = "https://www.googleapis.com/compute/v1/projects/"


def _aggregated_names(clients: ComputeClients, expression: str, project: str = PROJECT) -> set[str]:
    pager = clients.disks.aggregated_list(request={"project": project, "filter": expression})
    return {disk.name for _, scoped in pager for disk in scoped.disks}


def test_the_client_keeps_the_http_scheme_and_reads_a_zonal_disk(
    fake_compute: ComputeAdmin, compute: ComputeClients
) -> None:
    fake_compute.seed_disk(
        PROJECT, "data", zone=ZONE, size_gb=200, labels={"snapshot-daily": "7"}, id=42
    )
    disk = compute.disks.get(project=PROJECT, zone=ZONE, disk="data")
    assert disk.id == 42
    assert disk.size_gb == 200
    assert disk.status == "READY"
    assert disk.labels == {"snapshot-daily": "7"}
    assert disk.label_fingerprint
    assert disk.self_link == f"{SELF_LINK_ROOT}{PROJECT}/zones/{ZONE}/disks/data"
    assert disk.zone == f"{SELF_LINK_ROOT}{PROJECT}/zones/{ZONE}"
    assert disk.type_.endswith("/diskTypes/pd-balanced")
    created = datetime.fromisoformat(disk.creation_timestamp)
    assert created.tzinfo is not None
    assert abs((created - fake_compute.now()).total_seconds()) < 60


def test_seeding_without_ids_assigns_unique_numeric_ids(fake_compute: ComputeAdmin) -> None:
    ids = [fake_compute.seed_disk(PROJECT, f"d{i}", zone=ZONE)["id"] for i in range(5)]
    assert len(set(ids)) == 5
    assert all(value.isdigit() for value in ids)


def test_regional_disk_list_and_get(fake_compute: ComputeAdmin, compute: ComputeClients) -> None:
    fake_compute.seed_disk(PROJECT, "shared", region="europe-west1", labels={"a": "b"})
    fake_compute.seed_disk(PROJECT, "zonal", zone="europe-west1-b")
    disk = compute.region_disks.get(project=PROJECT, region="europe-west1", disk="shared")
    assert disk.region == f"{SELF_LINK_ROOT}{PROJECT}/regions/europe-west1"
    assert len(disk.replica_zones) == 2
    assert all("/zones/europe-west1-" in zone for zone in disk.replica_zones)
    listed = compute.region_disks.list(project=PROJECT, region="europe-west1")
    assert [d.name for d in listed] == ["shared"]
    zonal = compute.disks.list(project=PROJECT, zone="europe-west1-b")
    assert [d.name for d in zonal] == ["zonal"]


def test_aggregated_list_reports_every_scope_and_warns_on_empty_ones(
    fake_compute: ComputeAdmin, compute: ComputeClients
) -> None:
    fake_compute.seed_disk(PROJECT, "z", zone=ZONE)
    fake_compute.seed_disk(PROJECT, "r", region="us-east1")
    raw = requests.get(  # the raw JSON, as the API sends it
        f"{fake_compute.base_url}/compute/v1/projects/{PROJECT}/aggregated/disks", timeout=10
    ).json()
    assert raw["kind"] == "compute#diskAggregatedList"
    assert [d["name"] for d in raw["items"][f"zones/{ZONE}"]["disks"]] == ["z"]
    assert [d["name"] for d in raw["items"]["regions/us-east1"]["disks"]] == ["r"]
    empty = raw["items"]["zones/europe-west1-b"]
    assert empty["warning"]["code"] == "NO_RESULTS_ON_PAGE"
    assert empty["warning"]["data"] == [{"key": "scope", "value": "zones/europe-west1-b"}]
    assert "nextPageToken" not in raw
    # google-cloud-compute 1.57 cannot send returnPartialSuccess; other clients do.
    partial = requests.get(
        f"{fake_compute.base_url}/compute/v1/projects/{PROJECT}/aggregated/disks",
        params={"returnPartialSuccess": "true"},
        timeout=10,
    )
    assert partial.status_code == 200
    assert partial.json()["items"] == raw["items"]
    # And as the client reads it.
    scopes = dict(compute.disks.aggregated_list(request={"project": PROJECT}))
    assert scopes["zones/europe-west1-b"].warning.code == "NO_RESULTS_ON_PAGE"
    assert [d.name for d in scopes[f"zones/{ZONE}"].disks] == ["z"]


def test_aggregated_list_pages_1200_disks_across_scopes(
    fake_compute: ComputeAdmin, compute: ComputeClients
) -> None:
    zones = ["us-central1-a", "us-central1-b", "europe-west1-b", "asia-northeast1-a"]
    fake_compute.seed_disks(
        {"project": PROJECT, "name": f"disk-{i:04d}", "zone": zones[i % len(zones)]}
        for i in range(1_200)
    )
    pages = list(
        compute.disks.aggregated_list(request={"project": PROJECT, "max_results": 500}).pages
    )
    sizes = [sum(len(scoped.disks) for scoped in page.items.values()) for page in pages]
    assert sizes == [500, 500, 200]
    assert pages[0].next_page_token and pages[1].next_page_token
    assert not pages[2].next_page_token
    # The plain pager walks all pages and yields every disk once.
    names = [
        disk.name
        for _, scoped in compute.disks.aggregated_list(request={"project": PROJECT})
        for disk in scoped.disks
    ]
    assert len(names) == 1_200
    assert len(set(names)) == 1_200
    requests = [r for r in fake_compute.requests() if r["api_method"].endswith("aggregatedList")]
    assert [r["query"].get("pageToken") is not None for r in requests[-3:]] == [False, True, True]


def test_default_page_is_500_and_larger_pages_are_refused(
    fake_compute: ComputeAdmin, compute: ComputeClients
) -> None:
    fake_compute.seed_disks({"project": PROJECT, "name": f"d{i}", "zone": ZONE} for i in range(501))
    first = next(iter(compute.disks.list(project=PROJECT, zone=ZONE).pages))
    assert len(first.items) == 500
    assert first.next_page_token
    with pytest.raises(exceptions.BadRequest) as caught:
        compute.disks.list(request={"project": PROJECT, "zone": ZONE, "max_results": 501})
    assert caught.value.errors[0]["reason"] == "invalid"


def test_a_forged_page_token_is_invalid(
    fake_compute: ComputeAdmin, compute: ComputeClients
) -> None:
    fake_compute.seed_project(PROJECT)
    with pytest.raises(exceptions.BadRequest):
        compute.disks.aggregated_list(request={"project": PROJECT, "page_token": "garbage"})


@pytest.fixture
def labelled_disks(fake_compute: ComputeAdmin) -> ComputeAdmin:
    fake_compute.seed_disk(PROJECT, "daily", zone=ZONE, labels={"snapshot-daily": "7"})
    fake_compute.seed_disk(
        PROJECT, "both", zone="us-east1-b", labels={"snapshot-daily": "3", "snapshot-weekly": "4"}
    )
    fake_compute.seed_disk(PROJECT, "prod", region="us-central1", labels={"env": "prod"})
    fake_compute.seed_disk(PROJECT, "plain", zone=ZONE)
    return fake_compute


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("labels.snapshot-daily:*", {"daily", "both"}),
        ("labels.snapshot-daily=7", {"daily"}),
        ('labels.snapshot-daily = "3"', {"both"}),
        ("labels.snapshot-daily != 7", {"both", "prod", "plain"}),
        ("(labels.snapshot-daily:*) (labels.snapshot-weekly:*)", {"both"}),
        ("(labels.snapshot-daily:*) AND (labels.snapshot-weekly:*)", {"both"}),
        ("(labels.snapshot-weekly:*) OR (labels.env = prod)", {"both", "prod"}),
        ("name = plain", {"plain"}),
        ('name eq "p.*"', {"prod", "plain"}),
        ("status = READY", {"daily", "both", "prod", "plain"}),
        ("status = CREATING", set()),
    ],
)
def test_aggregated_list_filters(
    labelled_disks: ComputeAdmin, compute: ComputeClients, expression: str, expected: set[str]
) -> None:
    assert _aggregated_names(compute, expression) == expected


def test_a_malformed_filter_is_a_bad_request(
    labelled_disks: ComputeAdmin, compute: ComputeClients
) -> None:
    with pytest.raises(exceptions.BadRequest) as caught:
        _aggregated_names(compute, "labels.snapshot-daily =")
    assert caught.value.errors[0]["reason"] == "invalid"
    assert "filter" in caught.value.message


def test_filtered_paging_keeps_the_filter_across_pages(
    fake_compute: ComputeAdmin, compute: ComputeClients
) -> None:
    fake_compute.seed_disks(
        {
            "project": PROJECT,
            "name": f"d{i:04d}",
            "zone": ZONE if i % 2 else "us-east1-b",
            "labels": {"snapshot-daily": "7"} if i % 3 == 0 else {},
        }
        for i in range(1_200)
    )
    pager = compute.disks.aggregated_list(
        request={"project": PROJECT, "filter": "labels.snapshot-daily:*", "max_results": 150}
    )
    names = [disk.name for _, scoped in pager for disk in scoped.disks]
    assert len(names) == 400
    assert all(int(name[1:]) % 3 == 0 for name in names)


def test_instances_carry_labels_and_attached_disks(
    fake_compute: ComputeAdmin, compute: ComputeClients
) -> None:
    fake_compute.seed_disk(PROJECT, "data", zone=ZONE, size_gb=50)
    fake_compute.seed_disk(PROJECT, "shared", region="us-central1")
    fake_compute.seed_instance(
        PROJECT,
        "db-1",
        zone=ZONE,
        labels={"snapshot-daily": "7"},
        disks=["boot", "data", "regions/us-central1/disks/shared"],
    )
    fake_compute.seed_instance(PROJECT, "web-1", zone="us-east1-b", disks=["web-boot"])
    instance = compute.instances.get(project=PROJECT, zone=ZONE, instance="db-1")
    assert instance.labels == {"snapshot-daily": "7"}
    assert instance.status == "RUNNING"
    sources = [d.source for d in instance.disks]
    assert sources == [
        f"{SELF_LINK_ROOT}{PROJECT}/zones/{ZONE}/disks/boot",
        f"{SELF_LINK_ROOT}{PROJECT}/zones/{ZONE}/disks/data",
        f"{SELF_LINK_ROOT}{PROJECT}/regions/us-central1/disks/shared",
    ]
    assert [d.boot for d in instance.disks] == [True, False, False]
    assert [d.device_name for d in instance.disks] == ["boot", "data", "shared"]
    # The disks list the instance among their users.
    data = compute.disks.get(project=PROJECT, zone=ZONE, disk="data")
    assert list(data.users) == [instance.self_link]

    pager = compute.instances.aggregated_list(
        request={"project": PROJECT, "filter": "labels.snapshot-daily:*"}
    )
    assert [i.name for _, scoped in pager for i in scoped.instances] == ["db-1"]
    assert [i.name for i in compute.instances.list(project=PROJECT, zone="us-east1-b")] == ["web-1"]


def test_missing_resources_are_not_found(
    fake_compute: ComputeAdmin, compute: ComputeClients
) -> None:
    fake_compute.seed_project(PROJECT)
    with pytest.raises(exceptions.NotFound) as caught:
        compute.disks.get(project=PROJECT, zone=ZONE, disk="nope")
    assert caught.value.errors[0]["reason"] == "notFound"
    assert f"'projects/{PROJECT}/zones/{ZONE}/disks/nope' was not found" in caught.value.message
    with pytest.raises(exceptions.NotFound):
        compute.instances.get(project=PROJECT, zone=ZONE, instance="nope")


def test_an_unknown_project_is_not_found(
    fake_compute: ComputeAdmin, compute: ComputeClients
) -> None:
    with pytest.raises(exceptions.NotFound) as caught:
        compute.disks.aggregated_list(request={"project": "no-such-project"})
    assert "projects/no-such-project" in caught.value.message


def test_an_inaccessible_project_is_forbidden(
    fake_compute: ComputeAdmin, compute: ComputeClients
) -> None:
    fake_compute.seed_project("locked", accessible=False)
    with pytest.raises(exceptions.Forbidden) as caught:
        compute.disks.aggregated_list(request={"project": "locked"})
    assert caught.value.errors[0]["reason"] == "forbidden"
    assert "Required 'compute.disks.list' permission for 'projects/locked'" in (
        caught.value.message
    )


def test_an_unknown_zone_is_a_bad_request(
    fake_compute: ComputeAdmin, compute: ComputeClients
) -> None:
    fake_compute.seed_project(PROJECT)
    with pytest.raises(exceptions.BadRequest):
        compute.disks.list(project=PROJECT, zone="us-central1-z")


def test_seeding_refuses_invalid_names_and_labels(fake_compute: ComputeAdmin) -> None:
    with pytest.raises(AdminError, match="400"):
        fake_compute.seed_disk(PROJECT, "Bad_Name", zone=ZONE)
    with pytest.raises(AdminError, match="400"):
        fake_compute.seed_disk(PROJECT, "ok", zone=ZONE, labels={"Upper": "x"})


def test_compute_env_points_clients_at_the_fake(
    compute_env: str, fake_compute: ComputeAdmin
) -> None:
    assert os.environ["COMPUTE_EMULATOR_HOST"] == compute_env == fake_compute.host
    fake_compute.seed_disk(PROJECT, "data", zone=ZONE)
    clients = compute_clients(os.environ["COMPUTE_EMULATOR_HOST"])
    assert clients.disks.get(project=PROJECT, zone=ZONE, disk="data").name == "data"


def test_disks_are_relabelled_with_their_fingerprint_and_deleted_unless_attached(
    fake_compute: ComputeAdmin, compute: ComputeClients
) -> None:
    fake_compute.seed_disk("prj-labels", "data", zone="us-central1-a", labels={"a": "1"})
    fake_compute.seed_instance("prj-labels", "vm", zone="us-central1-a", disks=["boot"])
    disk = compute.disks.get(project="prj-labels", zone="us-central1-a", disk="data")
    stale = compute_v1.ZoneSetLabelsRequest(labels={"b": "2"}, label_fingerprint="stale")
    with pytest.raises(exceptions.PreconditionFailed):
        compute.disks.set_labels(
            project="prj-labels", zone="us-central1-a", resource="data",
            zone_set_labels_request_resource=stale,
        )  # fmt: skip
    fresh = compute_v1.ZoneSetLabelsRequest(
        labels={"b": "2"}, label_fingerprint=disk.label_fingerprint
    )
    compute.disks.set_labels(
        project="prj-labels", zone="us-central1-a", resource="data",
        zone_set_labels_request_resource=fresh,
    )  # fmt: skip
    again = compute.disks.get(project="prj-labels", zone="us-central1-a", disk="data")
    assert dict(again.labels) == {"b": "2"}
    with pytest.raises(exceptions.BadRequest, match="already being used"):
        compute.disks.delete(project="prj-labels", zone="us-central1-a", disk="boot")
    compute.disks.delete(project="prj-labels", zone="us-central1-a", disk="data")
    with pytest.raises(exceptions.NotFound):
        compute.disks.get(project="prj-labels", zone="us-central1-a", disk="data")


def test_a_project_reports_its_snapshots_quota(
    fake_compute: ComputeAdmin, compute: ComputeClients
) -> None:
    fake_compute.seed_project(PROJECT)
    for name in ("snap-a", "snap-b"):
        fake_compute.seed_snapshot(PROJECT, name)

    found = compute.projects.get(project=PROJECT)

    assert found.name == PROJECT and found.self_link.endswith(f"/projects/{PROJECT}")
    [quota] = [q for q in found.quotas if q.metric == "SNAPSHOTS"]
    assert quota.usage == 2 and quota.limit >= quota.usage
    with pytest.raises(exceptions.NotFound):
        compute.projects.get(project="no-such-project")
    fake_compute.seed_project("locked", denied_permissions=["compute.projects.get"])
    with pytest.raises(exceptions.Forbidden) as caught:
        compute.projects.get(project="locked")
    assert "Required 'compute.projects.get' permission" in caught.value.message
