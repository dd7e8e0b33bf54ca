"""Canonical text for near-duplicate matching: one spelling for one name, one form for one number.

Reprints of the same fact name things differently (小扎 for 扎克伯格, 輝達 for 英伟达, Jensen Huang for
黄仁勋) and write numbers differently (三十五万, 35万, 350,000). Novelty compares claims, and computes
their LSH sketches, on this canonical form; exact matching and the digest keep the claim's own text.

- Names: ``data/aliases.toml`` (and a user file in the same format) maps names to a canonical one;
  applied to normalized text (OpenCC and NFKC already done), ignoring case, longest name first.
- Numbers: thousands separators go (350,000 -> 350000); a number with 万 or 亿 becomes its value
  (35万 -> 350000, 1.5亿 -> 150000000); Chinese numerals with 万 or 亿
  too (三十五万 -> 350000, ``figures.chinese_number``).
  Small Chinese numerals alone (一, 两, 三) are left as they are: 一起 is not a number.

Pure: the alias table is built once (``Canon``) and passed around like the OpenCC converter.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

from monitor.figures import chinese_number

#: bump when the canonical form changes, so stores rebuild their near-duplicate index (2: our own reader of
#: Chinese numerals, vague magnitudes such as 数十万 left as they are)
VERSION = 2
_SEPARATED = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d,])")
_MAGNITUDE = {"万": 10_000, "亿": 100_000_000}
_DIGITS_WITH_MAGNITUDE = re.compile(r"(\d+(?:\.\d+)?)\s?([万亿])")
#: a Chinese numeral with 万 or 亿, not after 数, 几 or 上 (数十万 is a vague magnitude: monitor.figures reads it)
_CHINESE_WITH_MAGNITUDE = re.compile(
    r"(?<![数几上])[零〇一二三四五六七八九十百千两]+[万亿][零〇一二三四五六七八九十百千两万]*"
)


def load_aliases(extra: Path | None = None) -> dict[str, str]:
    """name -> canonical, from the shipped table and, if given, a user's file (whose entries win)."""
    tables = [resources.files("monitor").joinpath("data/aliases.toml").read_text(encoding="utf-8")]
    if extra is not None:
        tables.append(extra.read_text(encoding="utf-8"))
    mapping: dict[str, str] = {}
    for text in tables:
        for entry in tomllib.loads(text).get("alias", []):
            canonical = str(entry["canonical"]).lower()
            for name in entry.get("names", []):
                mapping[str(name).lower()] = canonical
    return mapping


class Canon:
    """The canonical form of normalized text (see the module docstring)."""

    def __init__(self, aliases: Mapping[str, str]) -> None:
        self._aliases = dict(aliases)
        names = sorted(self._aliases, key=len, reverse=True)
        self._names = re.compile("|".join(map(_pattern, names)), re.IGNORECASE) if names else None
        digest = hashlib.sha256(repr(sorted(self._aliases.items())).encode()).hexdigest()[:12]
        #: what the canonical form depends on, for the store's index parameters
        self.parameters = f"canon-v{VERSION}-{digest}"

    def __call__(self, normalized: str) -> str:
        text = normalized
        if self._names is not None:
            text = self._names.sub(lambda m: self._aliases[m.group(0).lower()], text)
        return numbers(text)

    def many(self, texts: Iterable[str]) -> list[str]:
        return [self(text) for text in texts]


def _pattern(name: str) -> str:
    """A name as a regex; a Latin-script name only as a whole word ("ai" is not in "said")."""
    escaped = re.escape(name)
    return rf"(?<![a-z0-9]){escaped}(?![a-z0-9])" if name.isascii() else escaped


def numbers(text: str) -> str:
    """Numbers in one form: no thousands separators, 万 and 亿 multiplied out, Chinese numerals with
    万 or 亿 as digits."""
    text = _SEPARATED.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _DIGITS_WITH_MAGNITUDE.sub(lambda m: _plain(float(m.group(1)) * _MAGNITUDE[m.group(2)]), text)
    return _CHINESE_WITH_MAGNITUDE.sub(_chinese, text)


def _plain(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _chinese(match: re.Match[str]) -> str:
    value = chinese_number(match.group(0))
    return match.group(0) if value is None else str(value)
