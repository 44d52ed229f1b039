"""One shape for the many checks of a single value against a regular expression."""

from __future__ import annotations

import re
from collections.abc import Callable

from snapkeeper.errors import ConfigError, SnapkeeperError

Check = Callable[[str], str]


def pattern_check(
    pattern: re.Pattern[str], problem: str, error: type[SnapkeeperError] = ConfigError
) -> Check:
    """A check that returns a value matching `pattern` whole, and otherwise raises
    `error` with `problem`, in which {value} stands for the value as quoted."""

    def check(value: str) -> str:
        if not pattern.fullmatch(value):
            raise error(problem.format(value=repr(value)))
        return value

    return check
