"""Errors of the fake, carrying the real API's google.rpc codes (`..rpc`).

The real service answers with a `google.rpc.Status` JSON body
(`{"error": {"code": 400, "message": ..., "status": "INVALID_ARGUMENT"}}`), which the
`google-cloud-scheduler` REST transport and gcloud both turn into their own errors.
"""

from __future__ import annotations

from ..rpc import RPC_CODES as RPC_CODES
from ..rpc import RPC_NAMES_BY_NUMBER as RPC_NAMES_BY_NUMBER
from ..rpc import AlreadyExists as AlreadyExists
from ..rpc import FailedPrecondition as FailedPrecondition
from ..rpc import Internal as Internal
from ..rpc import InvalidArgument as InvalidArgument
from ..rpc import NotFound as NotFound
from ..rpc import rpc_code_number as rpc_code_number

# The real service's messages, where known (the same text clients and users search for).
SCHEDULE_OR_TIME_ZONE_INVALID = "Schedule or time zone is invalid."
JOB_NOT_FOUND = "Job not found."
ALREADY_EXISTS_FORMAT = "Job {name} already exists."
JOB_NAME_FORMAT = (
    'Job name must be formatted: "projects/<PROJECT_ID>/locations/<LOCATION_ID>/jobs/<JOB_ID>".'
)
TOPIC_NAME_FORMAT = 'Topic name must be formatted: "projects/<PROJECT_ID>/topics/<TOPIC_ID>".'
ONLY_PUBSUB_TARGETS = "Only Pub/Sub targets are supported by this local fake; got {target}."
