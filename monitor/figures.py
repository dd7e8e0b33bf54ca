"""Figures: the quantities a claim states, in digits or in words, as values that can be compared.

Reprints restate a figure in other words (35万, 三十五万, 350,000; 三成, 30%, 百分之三十; 两倍, 翻倍) and
hedge it (约, 近, 将近, 超过, 逾, 多, 余, 左右): those are the same figure. A paraphrase that says 三分之一
where its source says 一半, 数千万 where it says 数亿, or 将近两个小时 where it says 约一小时, states another
figure. Novelty needs to tell the two apart; this module reads the figures of a normalized text (OpenCC and
NFKC done) into :class:`Figure` values and compares two claims' figures (:func:`relation`).

What counts as a figure, and its value:

- numbers in digits, with their magnitude (1.5亿 -> 150000000) and thousands separators (350,000);
  a number glued to Latin letters, or after a capitalized word, is part of a name (H100, SAM 2, Llama 3.1);
- Chinese numerals: several characters (三十五, 两千, 三十五万) always; a single one (一, 两, 三) only with a
  unit after it (两小时, 三倍, 两人), since 一起, 统一 and 之一 are words, not quantities;
- fractions and percentages in words (三分之一, 百分之三十 -> 30 %, 三成 -> 30 %, 一半 and 半数 -> 0.5,
  半小时 -> 0.5 小时, 一个半小时 -> 1.5 小时), multiples (两倍, 翻倍 and 翻一番 -> 2 倍, 翻两番 -> 4 倍);
- vague magnitudes, one value a magnitude (数千万 and 几千万 -> ~1e7, 数亿 and 上亿 -> ~1e8, 上千 -> ~1e3);
- ranges (3至5年, 3-5, 三到五年 -> 3-5 年) and dates (2024-07-30 -> 2024 年, 7 月, 30 日).

The unit after a figure (小时, 年, 美元, 块, %, ...; ``data/figures.toml``) is part of it: 两天 is not 两小时.
A small Chinese numeral with a counting word (两人, 一款, 三家) is a *weak* figure: reprints add and drop
them freely (两人 for the two speakers), so a weak figure counts only against one of the same unit.

Pure: text in, figures out.
"""

from __future__ import annotations

import re
import tomllib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

#: what stands for a figure in a masked text: a letter (kept by the matching key) that Chinese text never uses
PLACEHOLDER = "\ua66e"
SAME = "same"
SUBSET = "subset"
ADDS = "adds"
CONFLICT = "conflict"

_CN_DIGITS = "零〇一二两三四五六七八九"
_CN = "零〇一二两三四五六七八九十百千万亿"
#: a number in digits, thousands separators allowed (350,000)
_NUM = r"(?:\d{1,3}(?:,\d{3})+(?![\d,])|\d+)(?:\.\d+)?"
_MAGNITUDES = {
    "十": 10, "百": 100, "千": 1_000, "万": 10_000, "十万": 100_000, "百万": 1_000_000, "千万": 10_000_000,
    "亿": 100_000_000, "十亿": 10**9, "百亿": 10**10, "千亿": 10**11, "万亿": 10**12,
}  # fmt: skip
_MAGNITUDE = "|".join(sorted(_MAGNITUDES, key=len, reverse=True))
_SMALL = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
#: month names: a number after one is a day (July 30), not part of a name (Llama 3)
_MONTHS = frozenset(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"]
)  # fmt: skip


@dataclass(frozen=True)
class Figure:
    """One quantity a text states: its value and unit as comparable strings, and whether it is weak."""

    #: the value in one form: "350000", "0.5", "3-5", "~1e7" (a vague magnitude)
    value: str
    #: the unit in one form ("小时", "年", "美元", "%", "倍"), "" when none
    unit: str = ""
    #: a small Chinese numeral with a counting word (两人, 一款): it counts only against one of its unit
    weak: bool = field(default=False, compare=False)
    #: where it stands in the text it was read from
    span: tuple[int, int] = field(default=(0, 0), compare=False)


@dataclass(frozen=True)
class Units:
    """The unit table (``data/figures.toml``): unit spellings in one form, which are counting words, and
    which units are alike enough for a change between them to be a changed figure."""

    canonical: dict[str, str]
    counting: frozenset[str]
    family: dict[str, str]
    #: unit -> (base unit, how many of the base one of it makes): 小时 -> (分钟, 60)
    base: dict[str, tuple[str, float]]
    pattern: re.Pattern[str]


@lru_cache(maxsize=1)
def units() -> Units:
    raw = tomllib.loads(resources.files("monitor.data").joinpath("figures.toml").read_text("utf-8"))
    canonical: dict[str, str] = {}
    family: dict[str, str] = {}
    base: dict[str, tuple[str, float]] = {}
    for name, group in raw["unit"].items():
        for spelling in group["spellings"]:
            canonical[spelling] = name
        family[name] = group.get("family", name)
        if "base" in group:
            base[name] = (group["base"], float(group["scale"]))
    counting = frozenset(raw["counting"]["words"])
    for word in counting:
        canonical.setdefault(word, word)
        family.setdefault(word, word)
    spellings = sorted(canonical, key=len, reverse=True)
    return Units(canonical, counting, family, base, re.compile("|".join(map(re.escape, spellings)), re.IGNORECASE))


#: words after a number that hedge it (300余人, 35万多): the figure is the number
_APPROX = re.compile("(?:多|余|来|几)?")
_FIGURE = re.compile(
    "|".join(
        (
            r"(?P<date>(?<![\d.])(?P<y>\d{4})[-/.](?P<mo>\d{1,2})[-/.](?P<d>\d{1,2})(?![\d.]))",
            rf"(?P<frac>(?P<den>{_NUM}|[{_CN}]+)分之(?P<nom>{_NUM}|[{_CN}]+))",
            r"(?P<half>一半|半数)",
            r"(?P<double>翻了?一?倍|翻了?(?P<fan>一|两|二|三)番)",
            rf"(?P<vague>(?:好几|数|几|上)(?P<vmag>{_MAGNITUDE})|十几|几十)",
            rf"(?P<cheng>(?P<cn_cheng>{_NUM}|[{_CN_DIGITS}十])成(?![为功本立果长熟员绩就交都型品人年不效])(?!\w*分之))",
            rf"(?P<range>(?P<lo>{_NUM}|[{_CN_DIGITS}十])\s?(?:至|到|-|~|～|—|–)\s?(?P<hi>{_NUM}|[{_CN_DIGITS}十])"
            rf"(?P<rmag>{_MAGNITUDE})?)",
            rf"(?P<num>{_NUM})\s?(?P<mag>{_MAGNITUDE})?",
            rf"(?P<cn>[{_CN}]+)",
            r"(?P<halfunit>半(?=个?(?:小时|钟头|年|天|月|个月|周|星期)))",
        )
    )
)
_LATIN_BEFORE = re.compile(r"([A-Za-z][A-Za-z0-9]*)[ \-]?$")


@lru_cache(maxsize=1 << 14)  # candidates recur: the same stored claims are compared with many new ones
def read(normalized: str) -> tuple[Figure, ...]:
    """The figures of a normalized text, in order."""
    text = normalized
    found: list[Figure] = []
    for match in _FIGURE.finditer(text):
        if found and match.start() < found[-1].span[1]:
            continue  # read already, as the unit of the figure before it (一个半小时)
        found.extend(_figures_of(match, text))
    return tuple(found)


def _figures_of(m: re.Match[str], text: str) -> list[Figure]:
    span = m.span()
    kind = m.lastgroup
    if m.group("date"):
        y, mo, d = m.span("y"), m.span("mo"), m.span("d")
        return [
            Figure(_fmt(float(m.group("y"))), "年", span=y),
            Figure(_fmt(float(m.group("mo"))), "月", span=mo),
            Figure(_fmt(float(m.group("d"))), "日", span=d),
        ]
    if m.group("frac"):
        nom = _value(m.group("nom"))
        if nom is None:
            return []
        if m.group("den") in ("百", "100"):
            return [Figure(_fmt(nom), "%", span=span)]
        if m.group("den") in ("千", "1000"):
            return [Figure(_fmt(nom), "‰", span=span)]
        den = _value(m.group("den"))
        if not den:
            return []
        return [Figure(_fmt(nom / den), "", span=span)]
    if m.group("half"):
        return [Figure("0.5", "", span=span)]
    if m.group("double"):
        times = {"一": 1, "两": 2, "二": 2, "三": 3}.get(m.group("fan") or "一", 1)
        return [Figure(_fmt(2.0**times), "倍", span=span)]
    if m.group("vague"):
        word = m.group("vague")
        magnitude = _MAGNITUDES[m.group("vmag")] if m.group("vmag") else 10
        unit, end, _ = _unit(text, m.end())
        return [Figure(f"~1e{len(str(magnitude)) - 1}", unit, span=(span[0], end))] if word else []
    if m.group("cheng"):
        value = _value(m.group("cn_cheng"))
        return [Figure(_fmt(value * 10), "%", span=span)] if value is not None else []
    if m.group("range"):
        lo, hi = _value(m.group("lo")), _value(m.group("hi"))
        if lo is None or hi is None or lo >= hi:  # 2024-07 is not a range, nor 7-3, nor 一到一
            return _plain_number(m, text, "lo") if _is_digits(m.group("lo")) else []
        scale = _MAGNITUDES[m.group("rmag")] if m.group("rmag") else 1
        unit, end, _ = _unit(text, m.end())
        if not m.group("rmag") and not unit and not (_is_digits(m.group("lo")) and _is_digits(m.group("hi"))):
            return []  # 一到两 with nothing after it is not a quantity
        (lo, _), (hi, unit) = _in_base(lo * scale, unit), _in_base(hi * scale, unit)
        return [Figure(f"{_fmt(lo)}-{_fmt(hi)}", unit, span=(span[0], end))]
    if m.group("num"):
        return _plain_number(m, text, "num")
    if m.group("cn"):
        return _chinese_number(m, text)
    if m.group("halfunit"):
        unit, end, _ = _unit(text, m.end())
        return [_figure(0.5, unit, (span[0], end))] if unit else []
    raise AssertionError(kind)  # pragma: no cover - every alternative is handled above


def _plain_number(m: re.Match[str], text: str, group: str) -> list[Figure]:
    start = m.start(group)
    if start > 0 and (text[start - 1].isascii() and text[start - 1].isalpha()):
        return []  # H100, GPT-4: a name
    name = _LATIN_BEFORE.search(text, 0, start)
    if name and _is_name(name.group(1)):
        return []  # Llama 3.1, SAM 2, Quest 3
    digits = m.group(group)
    magnitude = m.group("mag") if group == "num" else None
    value = float(digits.replace(",", "")) * (_MAGNITUDES[magnitude] if magnitude else 1)
    end = m.end("mag") if magnitude else m.end(group)
    unit, end_unit, added = _unit(text, end, half=True)
    if not unit and end < len(text) and text[end].isascii() and text[end].isalpha():
        return []  # 5G, 3D: a name
    return [_figure(value + added, unit, (start, end_unit))]


def _chinese_number(m: re.Match[str], text: str) -> list[Figure]:
    numeral = m.group("cn")
    if numeral[0] in "万亿千百":
        return []  # 万一, 千万 (by all means), 百度: a word, or a magnitude with nothing to multiply
    value = _value(numeral)
    if value is None:
        return []
    unit, end, added = _unit(text, m.end(), half=True)
    if len(numeral) == 1 and not unit:
        return []  # 一起, 统一, 之一
    if m.start() > 0 and text[m.start() - 1] == "第":
        return []  # 第一, 第二: an order, not an amount
    weak = len(numeral) == 1 and numeral != "十" and unit in units().counting
    return [_figure(value + added, unit, (m.start(), end), weak=weak)]


def _in_base(value: float, unit: str) -> tuple[float, str]:
    """A value in its unit's base unit (一小时 -> 60 分钟), if the unit has one."""
    if unit in units().base:
        base, scale = units().base[unit]
        return value * scale, base
    return value, unit


def _figure(value: float, unit: str, span: tuple[int, int], *, weak: bool = False) -> Figure:
    value, unit = _in_base(value, unit)
    return Figure(_fmt(value), unit, weak=weak, span=span)


def _unit(text: str, at: int, *, half: bool = False) -> tuple[str, int, float]:
    """The unit after a number at ``at`` (skipping 多, 余, 个 and, with ``half``, the 半 of 一个半小时), in its
    canonical form, where it ends, and what it adds to the number (0.5 for that 半)."""
    i = at
    while i < len(text) and text[i] == " ":
        i += 1
    i = _APPROX.match(text, i).end()  # type: ignore[union-attr]  # (it matches the empty string)
    if text.startswith("个", i) and text.startswith(("多", "余"), i + 1):
        i += 2  # 一个多小时
    if text.startswith("个半", i) and half:
        found = units().pattern.match(text, i + 2)
        return (units().canonical[found.group(0).lower()], found.end(), 0.5) if found else ("", at, 0.0)
    if text.startswith("个", i):
        after = units().pattern.match(text, i + 1)
        if after and units().canonical[after.group(0).lower()] not in units().counting:
            return units().canonical[after.group(0).lower()], after.end(), 0.0
    found = units().pattern.match(text, i)
    if found:
        word = found.group(0).lower()
        end = found.end()
        if word.isascii() and end < len(text) and text[end].isascii() and text[end].isalnum():
            return "", at, 0.0  # 3 days, but not 3 daysx; 5G is read as a unit "g"
        return units().canonical[word], end, 0.0
    return "", at, 0.0


def _value(numeral: str) -> float | None:
    if _is_digits(numeral):
        return float(numeral.replace(",", ""))
    if len(numeral) == 1 and numeral in _SMALL:
        return float(_SMALL[numeral])
    value = chinese_number(numeral)
    return float(value) if value is not None else None


_CN_UNITS = {"十": 10, "百": 100, "千": 1000}


def chinese_number(numeral: str) -> int | None:
    """The value of a Chinese numeral: 三十五万 -> 350000, 一亿五千万 -> 150000000, 两千五 -> 2500 (a digit
    right after 百 or 千 counts in the next lower place), 一千零五 -> 1005, 二〇二四 -> 2024 (digits alone are
    read place by place). None for what is not a numeral. (cn2an reads these too, but building its patterns
    costs about two seconds a process.)"""
    if not numeral or any(ch not in _SMALL and ch not in _CN_UNITS and ch not in "万亿" for ch in numeral):
        return None
    if numeral[0] in "百千万亿":
        return None  # 百万, 千万: a magnitude with nothing to count (百万富翁, 千万不要, 数百万 is vague)
    if all(ch in _SMALL for ch in numeral):
        return int("".join(str(_SMALL[ch]) for ch in numeral)) if len(numeral) > 1 else _SMALL[numeral]
    total = section = 0
    digit: int | None = None
    place = 1  # the place of the last unit, for 两千五 (2500) and 三万五 (35000)
    zeroed = False  # a 零 since that unit: 一千零五 is 1005
    for ch in numeral:
        if ch in _SMALL:
            if _SMALL[ch] == 0:
                zeroed = True
                continue
            if digit is not None:
                return None  # 一二: two digits in a row, in a numeral with units
            digit = _SMALL[ch]
        elif ch in _CN_UNITS:
            section += (1 if digit is None else digit) * _CN_UNITS[ch]
            digit, place, zeroed = None, _CN_UNITS[ch], False
        else:  # 万 or 亿: the section so far counts that many times over
            section += digit or 0
            if not section and not total:
                return None  # 万 or 亿 with nothing before it
            if ch == "万":
                total, place = total + section * 10_000, 10_000
            else:
                total, place = (total + section) * 100_000_000, 100_000_000
            section, digit, zeroed = 0, None, False
    if digit is not None:
        section += digit * (place // 10 if place >= 100 and not zeroed else 1)
    return total + section


def _is_digits(text: str) -> bool:
    return bool(re.fullmatch(_NUM, text))


def _is_name(word: str) -> bool:
    """A word before a number that makes the number part of a name: capitalized or mixed (Llama 3.1, iPhone
    15, SAM 2), except a month (July 30)."""
    return word.lower() not in _MONTHS and any(ch.isupper() for ch in word)


def _fmt(value: float) -> str:
    return format(round(value, 4), ".6g")


def masked(normalized: str, figures: Iterable[Figure]) -> str:
    """The text with every figure replaced by one placeholder character (for comparing two claims' wording
    apart from their figures)."""
    out, last = [], 0
    for fig in sorted(figures, key=lambda f: f.span):
        start, end = fig.span
        if start < last:
            continue
        out.append(normalized[last:start])
        out.append(PLACEHOLDER)
        last = end
    out.append(normalized[last:])
    return "".join(out)


def relation(mine: Iterable[Figure], theirs: Iterable[Figure]) -> str:
    """How a new claim's figures stand to a known claim's: SAME; SUBSET (it leaves out some of the known
    figures, states none the known claim lacks); ADDS (it states a figure the known claim lacks, none against
    one of the known claim's); CONFLICT (a figure of one stands where the other has another of its kind).

    Weak figures (两人) left over on one side count only if the other side has one of the same unit left."""
    mine, theirs = tuple(mine), tuple(theirs)
    if mine == theirs:
        return SAME
    a, b = Counter(mine), Counter(theirs)
    common = a & b
    left_a, left_b = list((a - common).elements()), list((b - common).elements())
    units_a, units_b = {f.unit for f in left_a}, {f.unit for f in left_b}
    left_a = [f for f in left_a if not f.weak or f.unit in units_b]
    left_b = [f for f in left_b if not f.weak or f.unit in units_a]
    if left_a and left_b and any(_comparable(x, y) for x in left_a for y in left_b):
        return CONFLICT
    if left_a:
        return ADDS
    if left_b:
        return SUBSET
    return SAME


def _comparable(x: Figure, y: Figure) -> bool:
    """Two figures are of a kind when they share a unit family, or either has no unit."""
    if not x.unit or not y.unit:
        return True
    family = units().family
    return family.get(x.unit, x.unit) == family.get(y.unit, y.unit)
