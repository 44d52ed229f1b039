from __future__ import annotations

from datetime import timedelta

import pytest

from snapkeeper.config import Config, Drills
from snapkeeper.errors import ConfigError

BASE = {"GOOGLE_CLOUD_PROJECT": "snapkeeper-host", "TARGET_PROJECTS": "prod-a1, prod-b2,,"}


def test_defaults() -> None:
    config = Config.from_env(BASE)
    assert config.target_projects == {"prod-a1", "prod-b2"}
    assert config.work_topic == "snapkeeper-work"
    assert config.dead_letter_topic == "snapkeeper-dead-letter"
    assert config.label_prefix == "snapshot-"
    assert config.max_delivery_attempts == 10
    assert str(config.orphan_policy) == "keep" and not config.orphan_policy.acts
    assert config.topic_path("x-y") == "projects/snapkeeper-host/topics/x-y"
    assert config.allows("prod-a1") and not config.allows("other-project")


def test_overrides() -> None:
    config = Config.from_env(
        {
            **BASE,
            "WORK_TOPIC": "work-q",
            "SNAPSHOT_PROJECT": "vault-01",
            "MAX_DELIVERY_ATTEMPTS": "7",
            "ORPHAN_POLICY": "max-age:90d",
            "COMPUTE_EMULATOR_HOST": "127.0.0.1:1",
        }
    )
    assert (config.work_topic, config.snapshot_project, config.max_delivery_attempts) == (
        "work-q",
        "vault-01",
        7,
    )
    assert config.orphan_policy.max_age == timedelta(days=90)
    assert config.endpoints.compute == "127.0.0.1:1"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({}, "GOOGLE_CLOUD_PROJECT"),
        ({**BASE, "TARGET_PROJECTS": "UPPER"}, "TARGET_PROJECTS"),
        ({**BASE, "MAX_DELIVERY_ATTEMPTS": "3"}, "MAX_DELIVERY_ATTEMPTS"),
        ({**BASE, "MAX_DELIVERY_ATTEMPTS": "ten"}, "MAX_DELIVERY_ATTEMPTS"),
        ({**BASE, "ORPHAN_POLICY": "maybe"}, "ORPHAN_POLICY"),
        ({**BASE, "ORPHAN_POLICY": "max-age:9y"}, "ORPHAN_POLICY"),
        ({**BASE, "PRUNE_ORPHANS": "true"}, "set ORPHAN_POLICY instead"),
        ({**BASE, "WORK_TOPIC": "ab"}, "WORK_TOPIC"),
        ({**BASE, "LABEL_PREFIX": "Snap"}, "LABEL_PREFIX"),
        ({**BASE, "TARGET_FOLDERS": "folders/x"}, "TARGET_FOLDERS"),
        ({**BASE, "TARGET_ORGANIZATION": "folders/1"}, "TARGET_ORGANIZATION"),
        ({**BASE, "EXCLUDE_PROJECTS": "UPPER"}, "EXCLUDE_PROJECTS"),
    ],
)
def test_errors_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        Config.from_env(env)


def test_folders_organization_and_exclusions() -> None:
    config = Config.from_env(
        {
            **BASE,
            "TARGET_FOLDERS": "123, folders/456",
            "TARGET_ORGANIZATION": "789",
            "EXCLUDE_PROJECTS": "prod-b2",
        }
    )
    assert config.roots == ("folders/123", "folders/456", "organizations/789")
    assert config.allows("prod-a1") and not config.allows("prod-b2")


def test_retention_settings_and_their_defaults() -> None:
    config = Config.from_env(BASE)
    assert (config.deployment_id, config.min_keep, config.max_deletes_per_run) == ("default", 3, 3)
    assert config.keep_floor == 1  # MIN_KEEP is the vault's floor only
    vault = Config.from_env({**BASE, "SNAPSHOT_PROJECT": "vault-01", "MIN_KEEP": "5"})
    assert vault.keep_floor == 5
    other = Config.from_env({**BASE, "DEPLOYMENT_ID": "dr-2", "MAX_DELETES_PER_RUN": "10"})
    assert (other.deployment_id, other.max_deletes_per_run) == ("dr-2", 10)


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"DEPLOYMENT_ID": "Prod"}, "DEPLOYMENT_ID: 'Prod' is not a deployment id"),
        ({"DEPLOYMENT_ID": "a-very-long-one"}, "1-12 lowercase letters"),
        ({"MIN_KEEP": "0"}, "MIN_KEEP must be between 1 and 1000"),
        ({"MAX_DELETES_PER_RUN": "1"}, "a lowered N would never take effect"),
        ({"MAX_DELETES_PER_RUN": "lots"}, "MAX_DELETES_PER_RUN"),
    ],
)
def test_bad_retention_settings_say_what_to_do(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env({**BASE, **env})
    assert says in str(caught.value)


def test_drill_settings_go_together() -> None:
    config = Config.from_env(
        BASE | {"SCRATCH_PROJECT": "drill-scratch", "SCRATCH_ZONE": "us-central1-b"}
    )
    assert config.drills == Drills("drill-scratch", "us-central1-b", sample=1)
    assert Config.from_env(BASE).drills.scratch_project is None
    with pytest.raises(ConfigError, match="SCRATCH_PROJECT and SCRATCH_ZONE"):
        Config.from_env(BASE | {"SCRATCH_PROJECT": "drill-scratch"})
    with pytest.raises(ConfigError, match="SCRATCH_ZONE"):
        Config.from_env(BASE | {"SCRATCH_PROJECT": "drill-scratch", "SCRATCH_ZONE": "mars"})
    with pytest.raises(ConfigError, match="DRILL_SAMPLE"):
        Config.from_env(BASE | {"DRILL_SAMPLE": "0"})
