from __future__ import annotations

import pytest

from snapkeeper.config import Config
from snapkeeper.errors import ConfigError

BASE = {"GOOGLE_CLOUD_PROJECT": "snapkeeper-host", "TARGET_PROJECTS": "prod-a1, prod-b2,,"}


def test_defaults() -> None:
    config = Config.from_env(BASE)
    assert config.target_projects == {"prod-a1", "prod-b2"}
    assert config.work_topic == "snapkeeper-work"
    assert config.dead_letter_topic == "snapkeeper-dead-letter"
    assert config.label_prefix == "snapshot-"
    assert config.max_delivery_attempts == 10
    assert config.prune_orphans is False
    assert config.topic_path("x-y") == "projects/snapkeeper-host/topics/x-y"
    assert config.allows("prod-a1") and not config.allows("other-project")


def test_overrides() -> None:
    config = Config.from_env(
        {
            **BASE,
            "WORK_TOPIC": "work-q",
            "SNAPSHOT_PROJECT": "vault-01",
            "MAX_DELIVERY_ATTEMPTS": "7",
            "PRUNE_ORPHANS": "true",
            "COMPUTE_EMULATOR_HOST": "127.0.0.1:1",
        }
    )
    assert (config.work_topic, config.snapshot_project, config.max_delivery_attempts) == (
        "work-q",
        "vault-01",
        7,
    )
    assert config.prune_orphans and config.compute_emulator_host == "127.0.0.1:1"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "GOOGLE_CLOUD_PROJECT"),
        ({**BASE, "TARGET_PROJECTS": "UPPER"}, "TARGET_PROJECTS"),
        ({**BASE, "MAX_DELIVERY_ATTEMPTS": "3"}, "MAX_DELIVERY_ATTEMPTS"),
        ({**BASE, "MAX_DELIVERY_ATTEMPTS": "ten"}, "MAX_DELIVERY_ATTEMPTS"),
        ({**BASE, "PRUNE_ORPHANS": "maybe"}, "PRUNE_ORPHANS"),
        ({**BASE, "WORK_TOPIC": "ab"}, "WORK_TOPIC"),
        ({**BASE, "LABEL_PREFIX": "Snap"}, "LABEL_PREFIX"),
    ],
)
def test_errors_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Config.from_env(env)
