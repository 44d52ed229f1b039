"""Cloud Logging: log-based metrics (`gcloud logging metrics ...`)."""

from __future__ import annotations

from collections.abc import Mapping

from ..routing import RouteTable
from .backend import Backend, Call, Handler, Json, Resources

API = "logging"
METRICS = "/v2/projects/<project>/metrics"
ROUTES: RouteTable = (
    (METRICS, "POST", "logging.projects.metrics.create"),
    (METRICS + "/<metric>", "GET", "logging.projects.metrics.get"),
    (METRICS + "/<metric>", "PUT", "logging.projects.metrics.update"),
    (METRICS + "/<metric>", "DELETE", "logging.projects.metrics.delete"),
)


_metrics = Resources("Metric", lambda state: state.metrics, "projects/{project}/metrics/{metric}")


def create_metric(backend: Backend, call: Call) -> Json:
    body = call.json()
    name = f"projects/{call.args['project']}/metrics/{body['name']}"
    return _metrics.of(backend).create(name, body)


HANDLERS: Mapping[str, Handler] = {
    "logging.projects.metrics.create": create_metric,
    "logging.projects.metrics.get": _metrics.get,
    "logging.projects.metrics.update": _metrics.replace,
    "logging.projects.metrics.delete": _metrics.delete,
}
