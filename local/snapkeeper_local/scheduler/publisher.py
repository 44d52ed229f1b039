"""Publishing a job's message: the real `google-cloud-pubsub` client against the emulator."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Protocol

import grpc
from google.api_core import exceptions as core_exceptions
from google.api_core import retry as core_retry
from google.cloud import pubsub_v1
from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport

from .errors import rpc_code_number

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 30.0
# Retries of transient errors (an emulator restarting) stay inside the timeout above.
PUBLISH_RETRY_SECONDS = 20.0


class PublishFailed(Exception):
    """The publish did not succeed: `status` is the google.rpc.Code name."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message

    @property
    def code(self) -> int:
        return rpc_code_number(self.status)


class Publisher(Protocol):
    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str]) -> str:
        """Publish one message and return its id, or raise PublishFailed."""
        ...

    def close(self) -> None: ...


class EmulatorPublisher:
    """Publishes to the Pub/Sub emulator at `host` (host:port), never to Google.

    With no host every publish fails with FAILED_PRECONDITION: a local fake must not
    fall back to the real Pub/Sub service with whatever credentials lie around."""

    def __init__(self, host: str | None) -> None:
        self.host = host
        self._lock = threading.Lock()
        self._client: pubsub_v1.PublisherClient | None = None

    def _publisher(self, host: str) -> pubsub_v1.PublisherClient:
        with self._lock:
            if self._client is None:
                # An explicit plain-gRPC transport: the host given here wins over any
                # PUBSUB_EMULATOR_HOST of this process, and no credentials are looked up.
                transport = PublisherGrpcTransport(channel=grpc.insecure_channel(host))
                self._client = pubsub_v1.PublisherClient(transport=transport)
            return self._client

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str]) -> str:
        if not self.host:
            raise PublishFailed(
                "FAILED_PRECONDITION",
                "no Pub/Sub emulator configured (--pubsub-emulator-host or PUBSUB_EMULATOR_HOST)",
            )
        client = self._publisher(self.host)
        try:
            future = client.publish(
                topic,
                data,
                retry=core_retry.Retry(timeout=PUBLISH_RETRY_SECONDS),
                timeout=PUBLISH_TIMEOUT_SECONDS,
                **dict(attributes),
            )
            return str(future.result(timeout=PUBLISH_TIMEOUT_SECONDS))
        except core_exceptions.GoogleAPICallError as error:
            code = error.grpc_status_code
            raise PublishFailed(code.name if code else "UNKNOWN", error.message) from error
        except TimeoutError as error:
            raise PublishFailed("DEADLINE_EXCEEDED", f"publish timed out: {error}") from error

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.stop()
                client.api.transport.close()
            except Exception:  # closing is best effort at shutdown
                log.debug("closing the Pub/Sub publisher failed", exc_info=True)
