"""Normalization: the text every comparison is made on.

OpenCC script conversion (``t2s`` by default, so Traditional and Simplified reprints meet), then Unicode
NFKC (full-width letters, digits and punctuation become their half-width forms), then white space folded.
The matching *key* goes one step further: lower case, letters and digits only, so punctuation, quote
style and spacing never make two reprints differ.

The OpenCC converter is costly to build; a :class:`Normalizer` is built once per process and passed in.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from monitor.keys import key_of

__all__ = ["OPENCC_CONFIGS", "Normalizer", "key_of"]

_SPACE = re.compile(r"\s+")

#: the OpenCC configurations the ``opencc`` package ships (``opencc/clib/share/opencc/*.json``)
OPENCC_CONFIGS = (
    "s2t", "t2s", "s2tw", "tw2s", "s2hk", "hk2s", "s2twp", "tw2sp",
    "t2tw", "hk2t", "t2hk", "t2jp", "jp2t", "tw2t", "s2hkp", "hk2sp",
)  # fmt: skip


class Normalizer:
    """Script conversion + NFKC + white space, with one OpenCC converter for the process."""

    def __init__(self, config: str = "t2s") -> None:
        if config not in OPENCC_CONFIGS:
            raise ValueError(f"unknown OpenCC configuration {config!r}")
        import opencc  # here, not at the top: a poll that finds nothing new never loads it

        self.config = config
        self._converter = opencc.OpenCC(config)

    def normalize(self, text: str) -> str:
        """Converted, NFKC-folded text with runs of white space collapsed to one space."""
        text = unicodedata.normalize("NFKC", self._converter.convert(text))
        return _SPACE.sub(" ", text).strip()

    def normalize_many(self, texts: Sequence[str]) -> list[str]:
        """:meth:`normalize` of each text, converted in one OpenCC call (much cheaper than one a text)."""
        if any("\n" in text for text in texts):
            return [self.normalize(text) for text in texts]
        parts = unicodedata.normalize("NFKC", self._converter.convert("\n".join(texts))).split("\n")
        if len(parts) != len(texts):  # a conversion that made or ate a line break: do it one by one
            return [self.normalize(text) for text in texts]
        return [_SPACE.sub(" ", part).strip() for part in parts]

    def key(self, text: str) -> str:
        """The matching key of raw text (normalize, then :func:`key_of`)."""
        return key_of(self.normalize(text))
