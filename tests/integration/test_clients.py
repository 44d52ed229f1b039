"""The API clients as the functions build them (snapkeeper.clients), through the real
client library against the fake Compute Engine."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from snapkeeper.compute import ComputeGateway
from snapkeeper_local.compute import ComputeAdmin

PROJECT = "prod-app-1"
ZONE = "us-central1-a"
HANDLER_RUNS = 24  # above requests' default of 10 connections per host


def test_concurrent_handler_runs_keep_their_connections(
    fake_compute: ComputeAdmin, caplog: pytest.LogCaptureFixture
) -> None:
    # As a function instance at SNAPSHOT_CONCURRENCY 20 or more: every connection is
    # returned to the pool, none discarded with a warning on stderr.
    fake_compute.seed_disk(PROJECT, "data", zone=ZONE)
    fake_compute.add_fault(kind="latency", latency_seconds=0.5)
    gateway = ComputeGateway(fake_compute.host)

    with (
        caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"),
        ThreadPoolExecutor(HANDLER_RUNS) as pool,
    ):
        found = list(
            pool.map(lambda _: gateway.get_disk(PROJECT, ZONE, False, "data"), range(HANDLER_RUNS))
        )

    assert [disk.name if disk else None for disk in found] == ["data"] * HANDLER_RUNS
    assert [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()] == []
