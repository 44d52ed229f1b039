"""The fake's state as JSON (version 1), for `--state FILE`: saved on stop, loaded on start.

Faults and the request log are left out: they belong to the test that set them up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from .clock import FakeClock, Timings
from .models import Disk, Instance, Operation, Project, Snapshot, State

VERSION = 1


def dump(state: State, clock: FakeClock, timings: Timings) -> dict[str, Any]:
    return {
        "version": VERSION,
        # The offset as of now, so a time-scaled clock resumes where it stood.
        "clock": {"offset": clock.now() - time.time(), "frozen_at": clock.frozen_at},
        "timings": asdict(timings),
        "projects": [asdict(p) for p in state.projects.values()],
        "disks": [asdict(d) for d in state.disks.values()],
        "instances": [asdict(i) for i in state.instances.values()],
        "snapshots": [asdict(s) for s in state.snapshots.values()],
        "operations": [asdict(o) for o in state.operations.values()],
        "request_ids": [[p, r, list(k)] for (p, r), k in state.request_ids.items()],
        "last_snapshot_at": state.last_snapshot_at,
        "extra_zones": sorted(state.extra_zones),
    }


def load(data: Mapping[str, Any]) -> tuple[State, FakeClock, Timings]:
    if data.get("version") != VERSION:
        raise ValueError(f"unknown state version {data.get('version')!r}")
    clock = FakeClock()
    clock.offset = float(data["clock"]["offset"])
    clock.frozen_at = data["clock"]["frozen_at"]
    state = State(
        projects={p["name"]: Project(**p) for p in data["projects"]},
        disks={(d["project"], d["scope"], d["name"]): Disk(**d) for d in data["disks"]},
        instances={(i["project"], i["zone"], i["name"]): Instance(**i) for i in data["instances"]},
        snapshots={(s["project"], s["name"]): Snapshot(**s) for s in data["snapshots"]},
        operations={
            (o["project"], o["scope"], o["name"]): Operation(**o) for o in data["operations"]
        },
        request_ids={(p, r): (k[0], k[1], k[2]) for p, r, k in data["request_ids"]},
        last_snapshot_at=dict(data["last_snapshot_at"]),
        extra_zones=set(data["extra_zones"]),
    )
    state.continue_ids()
    timings = Timings(**data["timings"])
    clock.set_rate(timings.time_scale)
    return state, clock, timings


def save_file(path: str, data: Mapping[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)


def load_file(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data
