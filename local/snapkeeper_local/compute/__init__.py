"""A fake Compute Engine API that the unmodified `google-cloud-compute` REST client talks
to over plain HTTP, in moto's shape: `routes` (the route table) → `responses` (thin
handlers) → `backend` (the API's rules over the resources of `models`, with `clock`,
`views`, `listing`, `permissions`, `faults`, `quotas`, `storage` (incremental storageBytes),
`request_log` and `persistence`) → `errors` (the real API's error bodies).

API methods served (v1):

- compute.projects.get (its `quotas[]` holds SNAPSHOTS)
- compute.disks.aggregatedList, .list, .get, .insert, .delete, .setLabels, .createSnapshot
- compute.regionDisks.list, .get, .insert, .delete, .setLabels, .createSnapshot
- compute.instances.aggregatedList, .list, .get
- compute.snapshots.list, .get, .insert, .delete, .setLabels
- compute.globalOperations.get, .wait; compute.zoneOperations.get, .wait;
  compute.regionOperations.get, .wait

The admin API under `/_fake/` (seed, clock, config, quotas, faults, request log, reset) has a
Python client, `ComputeAdmin`.

    with ComputeServer() as server:
        server.admin.seed_disk("p", "d", zone="us-central1-a", labels={"a": "b"})
        client = compute_v1.SnapshotsClient(
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": f"http://{server.host}"},
        )
"""

from .admin import AdminError, ComputeAdmin
from .backend import Backend
from .server import ComputeServer

__all__ = ["AdminError", "Backend", "ComputeAdmin", "ComputeServer"]
