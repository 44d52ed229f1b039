"""deploy.sh with TARGET_FOLDERS and TARGET_ORGANIZATION, as a dry run (no gcloud is
called): the custom roles are defined once in the organization and granted, with
Browser, on each folder and the organization; teardown takes them back."""

from __future__ import annotations

import os
from pathlib import Path

from tests.integration.test_deploy_local import (
    deployed,
    gcloud_config,
    gcloud_env,
    marking_gcloud,
    run_deploy,
    unique_project,
    write_config,
)

__all__ = ["gcloud_config"]  # the fixture


def test_roles_are_granted_once_on_the_folders_and_the_organization(
    tmp_path: Path, gcloud_config: Path
) -> None:
    host = unique_project()
    settings = {"TARGET_FOLDERS": "111,folders/222", "TARGET_ORGANIZATION": "999"}
    config = write_config(tmp_path, host, settings)
    bin_dir, called = marking_gcloud(tmp_path)
    env = gcloud_env(
        gcloud_config, {"PATH": f"{bin_dir}:{os.environ['PATH']}", "TMPDIR": str(tmp_path)}
    )

    text = deployed(run_deploy("--config", str(config), "--dry-run", env=env)).stdout
    teardown = deployed(run_deploy("--config", str(config), "--dry-run", "--teardown", env=env))

    enumerator = f"serviceAccount:snapkeeper-enumerator@{host}.iam.gserviceaccount.com"
    snapshot = f"serviceAccount:snapkeeper-snapshot@{host}.iam.gserviceaccount.com"
    for role in ("snapkeeperEnumerator", "snapkeeperSnapshot"):
        assert f"gcloud iam roles create {role} --organization=999 --file=" in text
    where = ("resource-manager folders add-iam-policy-binding 111",
             "resource-manager folders add-iam-policy-binding 222",
             "organizations add-iam-policy-binding 999")  # fmt: skip
    for target in where:
        for role, member in (
            ("organizations/999/roles/snapkeeperEnumerator", enumerator),
            ("organizations/999/roles/snapkeeperSnapshot", snapshot),
            ("roles/browser", enumerator),
            ("roles/browser", snapshot),
        ):
            assert f"gcloud {target} --role={role} --member={member} --condition=None" in text
    # The listed projects keep their own roles; the vault-less config has no other.
    assert "gcloud iam roles create snapkeeperEnumerator --project=prod-app-1" in text
    # Both functions are told where to look (a dry run keeps their staged environment).
    for function in ("enumerator", "snapshot"):
        [env_file] = tmp_path.glob(f"snapkeeper-deploy.*/env-snapkeeper-{function}.yaml")
        staged = env_file.read_text()
        assert "TARGET_FOLDERS: 'folders/111,folders/222'" in staged.splitlines(), staged
        assert "TARGET_ORGANIZATION: 'organizations/999'" in staged.splitlines()
    for target in ("resource-manager folders remove-iam-policy-binding 111",
                   "organizations remove-iam-policy-binding 999"):  # fmt: skip
        assert f"gcloud {target} --role=roles/browser --member={snapshot}" in teardown.stdout
    assert "gcloud iam roles delete snapkeeperSnapshot --organization=999" in teardown.stdout
    assert not called.exists()
