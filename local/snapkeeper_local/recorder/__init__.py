"""A recording stand-in for the Google Cloud control-plane APIs that deploy.sh drives.

The real gcloud talks to it through `CLOUDSDK_API_ENDPOINT_OVERRIDES_<API>`, each API
under a path prefix of its own (`http://127.0.0.1:PORT/<api>/`), so every request is
recorded with the API it was meant for. It answers with plausible JSON and remembers what
was created, so a second deploy sees the first one's resources (long-running operations
are answered as done). One module per API, on the create/read/update/delete helper of
`backend`; the methods served, by module:

- serviceusage: serviceusage.services.list, .get, .enable, .batchEnable
- resourcemanager: cloudresourcemanager.projects.get
- cloudbuild: cloudbuild.projects.locations.getDefaultServiceAccount
- iam: iam.projects.serviceAccounts.list, .create, .get, .delete;
  iam.projects.roles.create, .get, .patch, .delete, .undelete;
  iam.organizations.roles.create, .get, .patch, .delete, .undelete
- policies: getIamPolicy and setIamPolicy of Resource Manager projects, folders and
  organizations, IAM service
  accounts, Pub/Sub topics and subscriptions, and Cloud Run services
- functions: cloudfunctions.projects.locations.runtimes.list;
  cloudfunctions.projects.locations.functions.generateUploadUrl, .create, .get, .patch,
  .delete; cloudfunctions.projects.locations.operations.get; and the PUT of the source
  archive to the upload URL (kept: `Recorder.source_archive(name)`)
- eventarc: eventarc.projects.locations.triggers.get. Deploying a function makes its
  trigger and the trigger's subscription in the Pub/Sub emulator, as Eventarc does, so
  deploy.sh has a real subscription to put the retry and dead-letter policy and the ack
  deadline on (the ack deadline Eventarc gives it is a constructor argument, so a test
  can make it too short)
- logging_metrics: logging.projects.metrics.create, .get, .update, .delete
- monitoring: monitoring.projects.alertPolicies.list, .create, .patch, .delete
- pubsub: every other Pub/Sub call is forwarded to the real emulator

Anything else is recorded and answered 404.
"""

from .backend import ApiError, State, project_number
from .server import APIS, TRIGGER_ACK_DEADLINE_SECONDS, Recorded, Recorder

__all__ = [
    "APIS",
    "TRIGGER_ACK_DEADLINE_SECONDS",
    "ApiError",
    "Recorded",
    "Recorder",
    "State",
    "project_number",
]
