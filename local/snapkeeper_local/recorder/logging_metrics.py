"""Cloud Logging: log-based metrics (`gcloud logging metrics ...`)."""

from __future__ import annotations

from collections.abc import Mapping

from ..routing import RouteTable
from .backend import Backend, Call, Collection, Handler, Json

API = "logging"
METRICS = "/v2/projects/<project>/metrics"
ROUTES: RouteTable = (
    (METRICS, "POST", "logging.projects.metrics.create"),
    (METRICS + "/<metric>", "GET", "logging.projects.metrics.get"),
    (METRICS + "/<metric>", "PUT", "logging.projects.metrics.update"),
    (METRICS + "/<metric>", "DELETE", "logging.projects.metrics.delete"),
)


def _metrics(backend: Backend) -> Collection:
    return Collection(backend.state.metrics, "Metric")


def _name(call: Call) -> str:
    return "projects/{project}/metrics/{metric}".format(**call.args)


def create_metric(backend: Backend, call: Call) -> Json:
    body = call.json()
    return _metrics(backend).create(f"projects/{call.args['project']}/metrics/{body['name']}", body)


def delete_metric(backend: Backend, call: Call) -> Json:
    _metrics(backend).delete(_name(call))
    return {}


HANDLERS: Mapping[str, Handler] = {
    "logging.projects.metrics.create": create_metric,
    "logging.projects.metrics.get": lambda backend, call: _metrics(backend).get(_name(call)),
    "logging.projects.metrics.update": lambda backend, call: _metrics(backend).replace(
        _name(call), call.json()
    ),
    "logging.projects.metrics.delete": delete_metric,
}
