"""Each resource in the real API's JSON shape, as of a moment of the fake clock."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import storage
from .clock import Timings, rfc3339
from .models import Disk, Instance, Operation, Project, Snapshot
from .validation import label_fingerprint, self_link

# httpErrorStatusCode and httpErrorMessage of an operation that failed with an error code:
# quota and rate errors are 403s, INTERNAL_ERROR a 500, anything else the caller's 400.
OPERATION_HTTP_ERRORS: Mapping[str, tuple[int, str]] = {
    "QUOTA_EXCEEDED": (403, "FORBIDDEN"),
    "RESOURCE_OPERATION_RATE_EXCEEDED": (403, "FORBIDDEN"),
    "RATE_LIMIT_EXCEEDED": (403, "FORBIDDEN"),
    "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED": (403, "FORBIDDEN"),
    "INTERNAL_ERROR": (500, "INTERNAL_SERVER_ERROR"),
}
OPERATION_HTTP_ERROR_DEFAULT = (400, "BAD_REQUEST")


def disk_json(disk: Disk, now: float) -> dict[str, Any]:
    kind, where = disk.scope.split("/")
    body: dict[str, Any] = {
        "kind": "compute#disk",
        "id": str(disk.id),
        "creationTimestamp": rfc3339(disk.created),
        "name": disk.name,
        "sizeGb": str(disk.size_gb),
        "status": disk.status(now),
        "selfLink": self_link(disk.path),
        "type": self_link(f"projects/{disk.project}/{disk.scope}/diskTypes/{disk.type}"),
        "labelFingerprint": label_fingerprint(disk.labels),
        "physicalBlockSizeBytes": "4096",
    }
    if kind == "zones":
        body["zone"] = self_link(f"projects/{disk.project}/zones/{where}")
    else:
        body["region"] = self_link(f"projects/{disk.project}/regions/{where}")
        body["replicaZones"] = [
            self_link(f"projects/{disk.project}/zones/{zone}") for zone in disk.replica_zones
        ]
    if disk.labels:  # the real API leaves out empty maps and lists
        body["labels"] = dict(disk.labels)
    if disk.users:
        body["users"] = list(disk.users)
    if disk.source_snapshot:
        body["sourceSnapshot"] = disk.source_snapshot
        body["sourceSnapshotId"] = disk.source_snapshot_id
    return body


def instance_json(instance: Instance, disk_sizes: Mapping[str, int]) -> dict[str, Any]:
    """`disk_sizes`: size in GB by disk selfLink, of the attached disks that still exist."""
    attached = [
        {
            "kind": "compute#attachedDisk",
            "type": "PERSISTENT",
            "mode": "READ_WRITE",
            "source": link,
            "deviceName": link.rsplit("/", 1)[1],
            "index": index,
            "boot": index == 0,
            "autoDelete": index == 0,
            "interface": "SCSI",
            "diskSizeGb": str(disk_sizes.get(link, 10)),
        }
        for index, link in enumerate(instance.disks)
    ]
    zone = f"projects/{instance.project}/zones/{instance.zone}"
    body: dict[str, Any] = {
        "kind": "compute#instance",
        "id": str(instance.id),
        "creationTimestamp": rfc3339(instance.created),
        "name": instance.name,
        "zone": self_link(zone),
        "machineType": self_link(f"{zone}/machineTypes/{instance.machine_type}"),
        "status": "RUNNING",
        "selfLink": self_link(instance.path),
        "labelFingerprint": label_fingerprint(instance.labels),
        "disks": attached,
    }
    if instance.labels:
        body["labels"] = dict(instance.labels)
    return body


def snapshot_json(snapshot: Snapshot, now: float, timings: Timings) -> dict[str, Any]:
    status = snapshot.status(now, timings)
    stored = storage.stored(snapshot) if status == "READY" else 0
    body: dict[str, Any] = {
        "kind": "compute#snapshot",
        "id": str(snapshot.id),
        "creationTimestamp": rfc3339(snapshot.created),
        "name": snapshot.name,
        "status": status,
        "sourceDisk": snapshot.source_disk,
        "sourceDiskId": snapshot.source_disk_id,
        "diskSizeGb": str(snapshot.disk_size_gb),
        "storageBytes": str(stored),
        "storageBytesStatus": "UP_TO_DATE" if status == "READY" else "UPDATING",
        "storageLocations": list(snapshot.storage_locations),
        "labelFingerprint": label_fingerprint(snapshot.labels),
        "selfLink": self_link(snapshot.path),
        "autoCreated": False,
        "snapshotType": snapshot.snapshot_type,
    }
    if snapshot.chain_name:
        body["chainName"] = snapshot.chain_name
    # Never the key itself: the KMS key's name (with its version), or the raw key's hash.
    if snapshot.kms_key_name:
        body["snapshotEncryptionKey"] = {"kmsKeyName": snapshot.kms_key_name}
    elif snapshot.raw_key_sha256:
        body["snapshotEncryptionKey"] = {"sha256": snapshot.raw_key_sha256}
    if snapshot.labels:
        body["labels"] = dict(snapshot.labels)
    if snapshot.guest_flush:
        body["guestFlush"] = True
    if snapshot.description:
        body["description"] = snapshot.description
    return body


def operation_json(op: Operation, now: float) -> dict[str, Any]:
    done = op.done(now)
    body: dict[str, Any] = {
        "kind": "compute#operation",
        "id": str(op.id),
        "name": op.name,
        "operationType": op.operation_type,
        "targetLink": op.target_link,
        "targetId": op.target_id,
        "status": "DONE" if done else "RUNNING",
        "user": "anonymous",
        "progress": 100 if done else 0,
        "insertTime": rfc3339(op.inserted),
        "startTime": rfc3339(op.inserted),
        "selfLink": self_link(op.path),
    }
    if op.scope != "global":
        kind = op.scope.split("/")[0]
        body["zone" if kind == "zones" else "region"] = self_link(
            f"projects/{op.project}/{op.scope}"
        )
    if done:
        body["endTime"] = rfc3339(op.done_at)
        if op.error:
            body["error"] = {"errors": [dict(e) for e in op.error]}
            status, message = OPERATION_HTTP_ERRORS.get(
                op.error[0].get("code", ""), OPERATION_HTTP_ERROR_DEFAULT
            )
            body["httpErrorStatusCode"] = status
            body["httpErrorMessage"] = message
    return body


def project_json(project: Project, quotas: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": "compute#project",
        "id": str(project.id),
        "name": project.name,
        "selfLink": self_link(f"projects/{project.name}"),
        "quotas": quotas,
    }
