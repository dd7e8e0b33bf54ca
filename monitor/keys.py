"""The matching key: the form in which two texts are the same claim, whatever their punctuation or spacing.

A leaf module (it imports nothing of ours), so every stage that compares claims uses the one definition."""

from __future__ import annotations

import re

#: everything but letters and digits (Python's \w is Unicode letters and digits, and "_")
_NOT_KEY = re.compile(r"[\W_]+")


def key_of(normalized: str) -> str:
    """The matching key of a normalized text: lower-cased letters and digits only."""
    return _NOT_KEY.sub("", normalized.lower())
