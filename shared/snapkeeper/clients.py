"""Google API clients, built lazily and cached per endpoint.

With COMPUTE_EMULATOR_HOST / CLOUD_SCHEDULER_EMULATOR_HOST /
RESOURCE_MANAGER_EMULATOR_HOST / CLOUD_ASSET_EMULATOR_HOST set, the unmodified clients
talk plain HTTP to a local API with anonymous credentials (Pub/Sub's client honours
PUBSUB_EMULATOR_HOST by itself).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, get_type_hints

import requests
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.cloud.pubsub_v1.types import BatchSettings
from requests.adapters import HTTPAdapter

_Client = TypeVar("_Client")


# Connections a REST client keeps open per host. requests keeps 10, so a function
# instance with more handler runs at once (SNAPSHOT_CONCURRENCY, default 20, each
# holding a connection through its operation wait) would discard connections, warn
# "Connection pool is full" on stderr each time and pay a TLS handshake for the next
# call. Connections are still opened only on demand.
CONNECTIONS_PER_HOST = 1000  # Cloud Run's highest concurrency per instance


def _rest(client: Callable[..., _Client], emulator_host: str | None) -> _Client:
    """A client over REST: Compute's only transport; the others default to gRPC."""
    if not emulator_host:
        built = client(transport="rest")
    else:
        built = client(
            transport="rest",
            credentials=AnonymousCredentials(),
            client_options=ClientOptions(api_endpoint=f"http://{emulator_host}"),
        )
    _widen_pool(built)
    return built


def _widen_pool(client: Any) -> None:
    """Let the client's session keep CONNECTIONS_PER_HOST connections. The generated
    REST transports do not expose their requests session, hence the private path; a
    session that is not found, or that carries its own adapter (mutual TLS), is left
    as it is."""
    session = getattr(getattr(client, "_transport", None), "_session", None)
    if not isinstance(session, requests.Session):
        return
    for prefix in ("https://", "http://"):
        if type(session.adapters.get(prefix)) is HTTPAdapter:
            session.mount(prefix, HTTPAdapter(pool_maxsize=CONNECTIONS_PER_HOST))


@dataclass(frozen=True)
class ComputeClients:
    disks: compute_v1.DisksClient
    region_disks: compute_v1.RegionDisksClient
    instances: compute_v1.InstancesClient
    snapshots: compute_v1.SnapshotsClient
    global_operations: compute_v1.GlobalOperationsClient
    zone_operations: compute_v1.ZoneOperationsClient
    region_operations: compute_v1.RegionOperationsClient
    projects: compute_v1.ProjectsClient


@functools.cache
def compute(emulator_host: str | None) -> ComputeClients:
    # Each field's annotation is the client class it holds.
    classes = get_type_hints(ComputeClients)
    return ComputeClients(**{name: _rest(cls, emulator_host) for name, cls in classes.items()})


# Batches as large as one publish request may be (1,000 messages, 10 MB), so a tick's
# fan-out costs one request per 1,000 disks; the latency bound lets the enumerator's loop
# fill a batch before it is sent (the enumerator waits for every publish anyway).
WORK_BATCH = BatchSettings(max_messages=1000, max_bytes=9_000_000, max_latency=0.5)


@functools.cache
def publisher(emulator_host: str | None) -> PublisherClient:
    """One publisher per process (the key only keeps emulator and real apart)."""
    return PublisherClient(batch_settings=WORK_BATCH)


@functools.cache
def subscriber(emulator_host: str | None) -> SubscriberClient:
    return SubscriberClient()


@functools.cache
def scheduler(emulator_host: str | None) -> Any:
    from google.cloud import scheduler_v1  # only the CLI needs it

    return _rest(scheduler_v1.CloudSchedulerClient, emulator_host)


@dataclass(frozen=True)
class ResourceManagerClients:
    projects: Any  # resourcemanager_v3.ProjectsClient
    folders: Any  # resourcemanager_v3.FoldersClient


@functools.cache
def resource_manager(emulator_host: str | None) -> ResourceManagerClients:
    """Cloud Resource Manager v3 (projects and folders)."""
    from google.cloud import resourcemanager_v3  # only the enumerator and CLI need it

    return ResourceManagerClients(
        _rest(resourcemanager_v3.ProjectsClient, emulator_host),
        _rest(resourcemanager_v3.FoldersClient, emulator_host),
    )


@functools.cache
def asset(emulator_host: str | None) -> Any:
    """Cloud Asset Inventory; the CLI's."""
    from google.cloud import asset_v1

    return _rest(asset_v1.AssetServiceClient, emulator_host)
