"""The soak's command line: each option reaches the run's settings, and says what it is."""

from __future__ import annotations

import dataclasses

import pytest

from snapkeeper_local.chaos.__main__ import parse
from snapkeeper_local.chaos.soak import Rates, Settings


def test_no_options_give_the_default_month() -> None:
    assert parse([]) == Settings()


def test_each_rate_option_sets_its_rate_alone() -> None:
    settings = parse(["--failed-insert-rate", "0", "--duplicate-rate", "0.5", "--seed", "9"])
    assert settings.seed == 9
    assert settings.rates == dataclasses.replace(Rates(), failed_insert=0.0, duplicate=0.5)


def test_the_help_says_what_each_rate_is_a_share_of(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        parse(["--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps to the terminal
    assert "share of inserts accepted, then FAILED inside the operation" in text
    assert "share of calls answered 5xx or 429 (0: none) (default: 0.1)" in text
    assert "simulated days (default: 30.0)" in text
