"""Eventarc: the trigger Cloud Functions makes for a function with a Pub/Sub trigger, and
that trigger's own subscription in the Pub/Sub emulator, as Eventarc makes it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from ..routing import RouteTable
from .backend import Backend, Handler, Json, Resources
from .pubsub import call_emulator

API = "eventarc"
ROUTES: RouteTable = (
    (
        "/v1/projects/<project>/locations/<location>/triggers/<trigger>",
        "GET",
        "eventarc.projects.locations.triggers.get",
    ),
)


_triggers = Resources(
    "Trigger",
    lambda state: state.triggers,
    "projects/{project}/locations/{location}/triggers/{trigger}",
)


def create_trigger(
    backend: Backend, project: str, location: str, function: str, event_trigger: Json
) -> str:
    """Make the trigger of `function` and return its name."""
    trigger_id = f"{function}-{backend.new_id():06d}"
    name = f"projects/{project}/locations/{location}/triggers/{trigger_id}"
    subscription = (
        f"projects/{project}/subscriptions/eventarc-{location}-{trigger_id}-sub-{backend.new_id()}"
    )
    topic = event_trigger.get("pubsubTopic", "")
    backend.state.triggers[name] = {
        "name": name,
        "uid": hashlib.sha256(name.encode()).hexdigest()[:36],
        "serviceAccount": event_trigger.get("serviceAccountEmail", ""),
        "destination": {"cloudRun": {"service": function, "region": location, "path": "/"}},
        "transport": {"pubsub": {"topic": topic, "subscription": subscription}},
        "eventFilters": [{"attribute": "type", "value": event_trigger.get("eventType", "")}],
    }
    if backend.pubsub_emulator_host and topic:
        # As Eventarc: a subscription of its own on the topic, with no retry or dead-letter
        # policy (deploy.sh adds those, and raises a short ack deadline).
        call_emulator(
            backend.pubsub_emulator_host,
            "PUT",
            subscription,
            {"topic": topic, "ackDeadlineSeconds": backend.trigger_ack_deadline_seconds},
        )
    return name


def delete_trigger(backend: Backend, name: str) -> None:
    """The trigger of a deleted function goes, and its subscription with it."""
    trigger = backend.state.triggers.pop(name, None)
    if trigger and backend.pubsub_emulator_host:
        call_emulator(
            backend.pubsub_emulator_host, "DELETE", trigger["transport"]["pubsub"]["subscription"]
        )


HANDLERS: Mapping[str, Handler] = {
    "eventarc.projects.locations.triggers.get": _triggers.get,
}
