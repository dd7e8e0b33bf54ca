"""Checks of configuration tables against schemas, collecting every problem with its key path.

Generic: nothing here knows corpus-monitor's tables (``monitor.config`` describes them).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class Invalid(Exception):
    """A value failed its check: ``expected`` describes a good one; ``at``/``got`` name a bad part, ``more`` the
    other bad parts of the same value (each one problem)."""

    def __init__(self, expected: str, at: str = "", got: Any = None, more: tuple[Invalid, ...] = ()) -> None:
        super().__init__(expected)
        self.expected, self.at, self.got, self.more = expected, at, got, more


Check = Callable[[Any], Any]
REQUIRED: Any = object()


@dataclass(frozen=True)
class Option:
    """One key of a table: its check, its default (``REQUIRED`` if none) and whether it is a path."""

    check: Check
    default: Any = REQUIRED
    #: resolve the string against the config file's directory
    path: bool = False


def check(expected: str, ok: Callable[[Any], bool], convert: Callable[[Any], Any] = lambda v: v) -> Check:
    """A check accepting a value when ``ok(value)``, returning ``convert(value)``."""

    def checked(value: Any) -> Any:
        if not ok(value):
            raise Invalid(expected)
        return convert(value)

    return checked


def number(low: float, high: float | None = None, *, integer: bool = False, above: bool = False) -> Check:
    """A finite number from ``low`` (excluded if ``above``) to ``high``; with ``integer``, an int only.

    ``type()`` rather than isinstance, because a bool is an int to Python but not to a config file.
    """
    types, what = ((int,), "an integer") if integer else ((int, float), "a number")
    if high is None:
        expected = f"{what} {'greater than' if above else '>='} {low:g}"
    else:
        expected = f"{what} greater than {low:g} and at most {high:g}" if above else f"{what} from {low:g} to {high:g}"

    def ok(value: Any) -> bool:
        if type(value) not in types or not math.isfinite(value):
            return False
        return (value > low if above else value >= low) and (high is None or value <= high)

    return check(expected, ok, int if integer else float)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(s|m|h|d)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
#: the longest duration a setting may have: a leap year
LONGEST = 366 * 86400.0


def duration(value: Any) -> float:
    """A duration like "30s", "15m", "2h" or "1d" (or a number of seconds) -> seconds, greater than 0 and at most
    ``LONGEST`` (a longer one is a mistake, and overflows the scheduler's clock)."""
    if type(value) in (int, float) and math.isfinite(value) and 0 < value <= LONGEST:
        return float(value)
    match = _DURATION.fullmatch(value.strip().lower()) if isinstance(value, str) else None
    if match is None or not 0 < float(match[1]) * _UNIT_SECONDS[match[2]] <= LONGEST:
        raise Invalid('a duration like "30s", "15m", "2h" or "1d", of at most 366 days')
    return float(match[1]) * _UNIT_SECONDS[match[2]]


#: a non-empty string
text = check("a non-empty string", lambda v: isinstance(v, str) and bool(v.strip()))
#: true or false (a TOML boolean)
flag = check("true or false", lambda v: isinstance(v, bool))


def choice(*choices: str) -> Check:
    return check("one of " + ", ".join(map(repr, choices)), lambda v: v in choices)


def show(value: Any) -> str:
    text = "a table" if isinstance(value, dict) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def resolve(base: Path, written: str | Path) -> Path:
    return (base / Path(written).expanduser()).resolve()


class Checker:
    """Checks tables against their schemas, collecting ``(key path, message)`` problems."""

    def __init__(self, base: Path, refused: Mapping[str, str]) -> None:
        #: relative paths resolve against this directory
        self.base = base
        #: key path -> why the key is refused (rather than reported as unknown)
        self.refused = refused
        self.problems: list[tuple[str, str]] = []

    def table(self, raw: Any, where: str, schema: Mapping[str, Option], extra: tuple[str, ...] = ()) -> dict[str, Any]:
        """Return every key of ``schema``, checked or defaulted; a bad or missing key is left out."""
        if not isinstance(raw, dict):
            self.problems.append((where, f"expected a table, got {show(raw)}"))
            raw = {}
        known = [*extra, *schema]
        for key in raw:
            if key not in known:
                self.unknown(f"{where}.{key}", key, known, "key")
        values: dict[str, Any] = {}
        for key, option in schema.items():
            if key not in raw and option.default is REQUIRED:
                self.problems.append((f"{where}.{key}", "required key is missing"))
                continue
            try:
                value = option.check(raw[key]) if key in raw else option.default
            except Invalid as exc:
                for part in (exc, *exc.more):
                    got = show(raw[key] if part.got is None else part.got)
                    self.problems.append((f"{where}.{key}{part.at}", f"expected {part.expected}, got {got}"))
                continue
            values[key] = resolve(self.base, value) if option.path and value is not None else value
        return values

    def unknown(self, where: str, key: str, known: list[str], what: str) -> None:
        """Report an unknown key or table: the reason if it is refused, else the nearest known name."""
        if where in self.refused:
            self.problems.append((where, self.refused[where]))
            return
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "known: " + ", ".join(known)
        self.problems.append((where, f"unknown {what} ({hint})"))


def cron(value: str, expected: str) -> str:
    """A five-field cron expression as APScheduler reads it; ``expected`` describes a good value."""
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value)
    except ValueError as exc:
        raise Invalid(f"{expected} ({exc})") from None
    return value


def timezone_name(value: Any) -> str:
    """An IANA time zone name the system (or the tzdata package) knows."""
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise Invalid('an IANA time zone like "Asia/Shanghai" or "UTC"') from None
    return str(value)


def strings(value: Any) -> tuple[str, ...]:
    """A non-empty array of non-empty strings, stripped."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise Invalid("a non-empty array of non-empty strings")
    return tuple(v.strip() for v in value)
