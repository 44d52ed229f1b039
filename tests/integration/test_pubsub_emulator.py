"""The emulator harness: starts, serves the real client, and stops its whole group."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from google.cloud import pubsub_v1

from snapkeeper_local.pubsub_emulator import EmulatorFailed, PubSubEmulator
from tests.conftest import EMULATOR_PROJECT


def test_real_client_round_trip(pubsub_env: str) -> None:
    publisher = pubsub_v1.PublisherClient()
    subscriber = pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(EMULATOR_PROJECT, "harness-round-trip")
    subscription = subscriber.subscription_path(EMULATOR_PROJECT, "harness-round-trip-sub")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=subscription, topic=topic)
    publisher.publish(topic, b"hello", origin="test").result(timeout=30)
    response = subscriber.pull(subscription=subscription, max_messages=1, timeout=30)
    assert [m.message.data for m in response.received_messages] == [b"hello"]
    assert response.received_messages[0].message.attributes["origin"] == "test"


def test_stop_kills_the_whole_process_group(pubsub_emulator: PubSubEmulator) -> None:
    # A second, short-lived emulator: after stop() its process group must be empty.
    emulator = PubSubEmulator().start()
    process = emulator._process
    assert process is not None
    group = process.pid
    emulator.stop()
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)  # signal 0: does the group still exist?


def test_keep_log_copies_what_the_emulator_wrote(
    pubsub_emulator: PubSubEmulator, tmp_path: Path
) -> None:
    kept = tmp_path / "pubsub-emulator.log"
    pubsub_emulator.keep_log(kept)
    assert "Server started" in kept.read_text()  # the line the emulator writes when ready


def test_a_stopped_emulator_has_no_log_to_keep(tmp_path: Path) -> None:
    with pytest.raises(EmulatorFailed, match="not running"):
        PubSubEmulator().keep_log(tmp_path / "pubsub-emulator.log")
    assert not (tmp_path / "pubsub-emulator.log").exists()
