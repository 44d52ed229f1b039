"""The fake Cloud Resource Manager and Cloud Asset Inventory through the unmodified
clients (REST transport): listing by parent, lifecycle states, paging, queries, and the
errors of the real APIs."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import resourcemanager_v3

from snapkeeper import clients
from snapkeeper_local.asset import AssetServer
from snapkeeper_local.compute import ComputeAdmin
from snapkeeper_local.resourcemanager import DELETE_REQUESTED, ResourceManagerServer

ZONE = "europe-west1-b"


@pytest.fixture
def crm(fake_hierarchy: ResourceManagerServer) -> clients.ResourceManagerClients:
    return clients.resource_manager(fake_hierarchy.host)


@pytest.fixture
def assets(asset_server: AssetServer, fake_hierarchy: ResourceManagerServer) -> Any:
    return clients.asset(asset_server.host)


@pytest.fixture
def org(fake_hierarchy: ResourceManagerServer) -> dict[str, str]:
    admin = fake_hierarchy.admin
    org = admin.organization("31337")
    apps = admin.folder(org, "apps")
    admin.project("apps-live-1", apps, labels={"env": "prod"})
    admin.project("apps-old-2", apps, state=DELETE_REQUESTED)
    admin.project("top-level-3", org)
    return {"org": org, "apps": apps}


def test_projects_list_by_parent_shows_active_ones_unless_asked(
    org: dict[str, str], crm: clients.ResourceManagerClients
) -> None:
    active = list(crm.projects.list_projects(parent=org["apps"]))
    every = list(crm.projects.list_projects(request={"parent": org["apps"], "show_deleted": True}))

    assert [p.project_id for p in active] == ["apps-live-1"]
    assert {p.project_id: p.state for p in every} == {
        "apps-live-1": resourcemanager_v3.Project.State.ACTIVE,
        "apps-old-2": resourcemanager_v3.Project.State.DELETE_REQUESTED,
    }
    assert [p.project_id for p in crm.projects.list_projects(parent=org["org"])] == ["top-level-3"]
    assert [f.display_name for f in crm.folders.list_folders(parent=org["org"])] == ["apps"]
    assert crm.projects.get_project(name="projects/apps-live-1").parent == org["apps"]
    found = crm.projects.search_projects(query=f"parent:{org['apps']} labels.env:prod")
    assert [p.project_id for p in found] == ["apps-live-1"]


def test_listing_pages_through_many_projects(
    fake_hierarchy: ResourceManagerServer, crm: clients.ResourceManagerClients
) -> None:
    org = fake_hierarchy.admin.organization("5")
    for number in range(7):
        fake_hierarchy.admin.project(f"paged-proj-{number}", org)

    pager = crm.projects.list_projects(request={"parent": org, "page_size": 3})

    assert len([p for p in pager]) == 7
    assert fake_hierarchy.admin.request_counts() == {"cloudresourcemanager.projects.list": 3}


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.projects.get_project(name="projects/no-such-proj"), gexc.Forbidden),
        (lambda c: list(c.projects.list_projects(parent="folders/404")), gexc.Forbidden),
        (lambda c: list(c.projects.list_projects(parent="projects/x")), gexc.BadRequest),
        (lambda c: c.folders.get_folder(name="folders/1"), gexc.Forbidden),
        (lambda c: list(c.projects.search_projects(query="owner:me")), gexc.BadRequest),
    ],
)
def test_resource_manager_errors_carry_the_real_codes(
    org: dict[str, str], crm: clients.ResourceManagerClients, call: Any, error: type
) -> None:
    with pytest.raises(error):
        call(crm)


def test_search_all_resources_by_scope_type_query_and_page(
    org: dict[str, str], fake_compute: ComputeAdmin, assets: Any, asset_server: AssetServer
) -> None:
    for project in ("apps-live-1", "top-level-3", "elsewhere-4"):
        fake_compute.seed_project(project)
        for index in range(3):
            fake_compute.seed_disk(project, f"disk-{index}", zone=ZONE, labels={"tier": "gold"})
    disk_type = "compute.googleapis.com/Disk"

    def names(scope: str, query: str = "", **extra: Any) -> list[str]:
        request = {"scope": scope, "asset_types": [disk_type], "query": query, **extra}
        return [r.name.split("/projects/")[1] for r in assets.search_all_resources(request=request)]

    assert len(names(org["org"])) == 6  # elsewhere-4 is in no organization
    assert names(org["apps"], page_size=2) == [
        f"apps-live-1/zones/{ZONE}/disks/disk-{i}" for i in range(3)
    ]
    assert len(names("projects/elsewhere-4", "labels.tier=gold")) == 3
    assert names(org["org"], "labels.tier=silver") == []
    [result] = assets.search_all_resources(
        request={"scope": org["apps"], "asset_types": [disk_type], "query": "displayName=disk-0"}
    )
    assert result.folders == [org["apps"]] and result.organization == org["org"]
    assert result.project.startswith("projects/") and result.location == ZONE
    assert result.additional_attributes["id"]
    projects = assets.search_all_resources(
        request={
            "scope": org["org"],
            "asset_types": ["cloudresourcemanager.*"],
            "query": "labels.env=prod",
        }
    )
    assert [p.display_name for p in projects] == ["apps-live-1"]
    assert asset_server.admin.request_counts() == {
        "cloudasset.searchAllResources": 7
    }  # 2 pages of 2


@pytest.mark.parametrize(
    ("scope", "query", "error"),
    [
        ("organizations/999", "", gexc.Forbidden),
        ("billing/1", "", gexc.BadRequest),
        ("organizations/31337", "labels.env~prod", gexc.BadRequest),
        ("organizations/31337", "owner:me", gexc.BadRequest),
        ("organizations/31337", "createTime>yesterday", gexc.BadRequest),
    ],
)
def test_search_errors_carry_the_real_codes(
    org: dict[str, str], assets: Any, scope: str, query: str, error: type
) -> None:
    with pytest.raises(error):
        list(assets.search_all_resources(request={"scope": scope, "query": query}))


def test_staleness_serves_an_old_index_until_it_is_due(
    org: dict[str, str], fake_compute: ComputeAdmin, assets: Any, asset_server: AssetServer
) -> None:
    fake_compute.seed_project("apps-live-1")
    fake_compute.freeze_clock()
    asset_server.admin.set_staleness(300)
    request = {"scope": org["org"], "asset_types": ["compute.googleapis.com/Disk"]}
    assert list(assets.search_all_resources(request=request)) == []

    fake_compute.seed_disk("apps-live-1", "late", zone=ZONE)
    still = list(assets.search_all_resources(request=request))
    fake_compute.advance_clock(301)
    later = list(assets.search_all_resources(request=request))

    assert still == [] and [r.display_name for r in later] == ["late"]
