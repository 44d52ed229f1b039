"""Cloud Logging: log-based metrics (`gcloud logging metrics ...`)."""

from __future__ import annotations

from .backend import Backend, Call, Json, Resources, served

API = "logging"
METRICS = "/v2/projects/<project>/metrics"

_metrics = Resources("Metric", lambda state: state.metrics, "projects/{project}/metrics/{metric}")


def create_metric(backend: Backend, call: Call) -> Json:
    body = call.json()
    name = f"projects/{call.args['project']}/metrics/{body['name']}"
    return _metrics.of(backend).create(name, body)


ROUTES, HANDLERS = served(
    (METRICS, "POST", "logging.projects.metrics.create", create_metric),
    (METRICS + "/<metric>", "GET", "logging.projects.metrics.get", _metrics.get),
    (METRICS + "/<metric>", "PUT", "logging.projects.metrics.update", _metrics.replace),
    (METRICS + "/<metric>", "DELETE", "logging.projects.metrics.delete", _metrics.delete),
)
