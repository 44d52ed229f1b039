"""A fake Compute Engine API (disks, instances, snapshots, operations) that the
unmodified `google-cloud-compute` REST client talks to over plain HTTP.

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
