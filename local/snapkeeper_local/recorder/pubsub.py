"""Pub/Sub: every call is forwarded to the real emulator (its IAM policies excepted, which
the emulator does not implement: `policies` serves those)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping

from ..routing import RouteTable
from .backend import Backend, Call, Handler, Json, Raw, not_found

API = "pubsub"
PROXY_TIMEOUT_SECONDS = 30.0
FORWARD = "pubsub.forward"  # not a real method id: any call the emulator answers
ROUTES: RouteTable = tuple(
    ("/<path:path>", method, FORWARD) for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
)


def forward(backend: Backend, call: Call) -> Raw:
    if not backend.pubsub_emulator_host:
        raise not_found(f"{call.request.method} {API}/{call.args['path']} (no Pub/Sub emulator)")
    url = f"http://{backend.pubsub_emulator_host}/{call.args['path']}"
    if call.request.query_string:
        url += "?" + call.request.query_string.decode()
    forwarded = urllib.request.Request(
        url,
        data=call.request.get_data() or None,
        method=call.request.method,
        headers={"Content-Type": call.request.headers.get("Content-Type", "application/json")},
    )
    try:
        with urllib.request.urlopen(forwarded, timeout=PROXY_TIMEOUT_SECONDS) as response:
            return Raw(response.status, response.read())
    except urllib.error.HTTPError as exc:
        return Raw(exc.code, exc.read())


def call_emulator(host: str, method: str, resource: str, body: Json | None = None) -> None:
    """One call to the emulator's REST API, as Eventarc makes on its own (no recording)."""
    request = urllib.request.Request(
        f"http://{host}/v1/{resource}",
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=PROXY_TIMEOUT_SECONDS) as response:
        response.read()


HANDLERS: Mapping[str, Handler] = {FORWARD: forward}
