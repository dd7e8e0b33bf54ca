"""Figures in digits and in words (monitor.figures), and the rule built on them: a changed figure is never
silently known. Tables of forms, the pair tables through the real ingest, and properties over generated pairs."""

from __future__ import annotations

import json
from pathlib import Path

import cn2an
import pytest
from helpers import fate_after
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor import config, figures
from monitor.canon import Canon, load_aliases
from monitor.models import Candidate
from monitor.normalize import Normalizer, key_of
from monitor.novelty import decide

NORM = Normalizer("t2s")
TRADITIONAL = Normalizer("s2t")
CANON = Canon(load_aliases())
SETTINGS = config.load(None, cwd=Path("/nonexistent"))
CONFLICTS = json.loads((Path(__file__).parent / "data" / "conflicts.json").read_text("utf-8"))["cases"]

#: written form -> the (value, unit) figures it states
FORMS = [
    ("采购约35万块", [("350000", "块")]),
    ("采购约三十五万块", [("350000", "块")]),
    ("采购约350,000块", [("350000", "块")]),
    ("1.5亿美元", [("1.5e+08", "美元")]),
    ("三分之一的用户", [("0.3333", "")]),
    ("一半的用户", [("0.5", "")]),
    ("半数用户", [("0.5", "")]),
    ("数千万美元", [("~1e7", "美元")]),
    ("数亿美元", [("~1e8", "美元")]),
    ("上亿用户", [("~1e8", "")]),
    ("数百万开发者", [("~1e6", "")]),
    ("上千名工程师", [("~1e3", "名")]),
    ("提高了两倍", [("2", "倍")]),
    ("效率翻倍", [("2", "倍")]),
    ("收入翻了一番", [("2", "倍")]),
    ("翻两番", [("4", "倍")]),
    ("三成收入", [("30", "%")]),
    ("七成以上", [("70", "%")]),
    ("百分之三十", [("30", "%")]),
    ("30%的收入", [("30", "%")]),
    ("3至5年", [("3-5", "年")]),
    ("三到五年", [("3-5", "年")]),
    ("近35万", [("350000", "")]),
    ("超过35万块", [("350000", "块")]),
    ("逾35万块", [("350000", "块")]),
    ("将近两个小时", [("120", "分钟")]),
    ("约一小时", [("60", "分钟")]),
    ("60分钟", [("60", "分钟")]),
    ("一个半小时", [("90", "分钟")]),
    ("一个多小时", [("60", "分钟")]),
    ("半小时", [("30", "分钟")]),
    ("两周", [("14", "天")]),
    ("300余人", [("300", "人")]),
    ("2024年7月30日", [("2024", "年"), ("7", "月"), ("30", "日")]),
    ("2024-07-30", [("2024", "年"), ("7", "月"), ("30", "日")]),
    ("第50届", [("50", "届")]),
    ("每小时 10 美元", [("10", "美元")]),
    ("Llama 3.1 405B", [("405", "b")]),
    ("July 30, 2024", [("30", ""), ("2024", "")]),
    # words that are not figures
    ("SAM 2模型", []),
    ("GPT-4与H100", []),
    ("5G网络", []),
    ("一起统一之一", []),
    ("第一次", []),
    ("十分重要", []),
    ("千万不要", []),
    ("万一失败", []),
    ("百度", []),
    ("一成不变", []),
]


@pytest.mark.parametrize(("written", "stated"), FORMS, ids=[w for w, _ in FORMS])
def test_figures_are_read_in_digits_and_in_words(written: str, stated: list[tuple[str, str]]) -> None:
    found = figures.read(NORM.normalize(written))
    assert [(f.value, f.unit) for f in found] == stated


def test_a_small_numeral_with_a_counting_word_is_weak() -> None:
    (two,) = figures.read("两人主要探讨了开源")
    assert two.weak and (two.value, two.unit) == ("2", "人")
    (hours,) = figures.read("两小时")
    assert not hours.weak


@pytest.mark.parametrize(
    ("mine", "theirs", "relation"),
    [
        ("约35万块", "35万块", figures.SAME),
        ("35万块", "7月30日采购35万块", figures.SUBSET),
        ("7月30日采购35万块", "35万块", figures.ADDS),
        ("50万块", "35万块", figures.CONFLICT),
        ("两天", "两小时", figures.CONFLICT),  # one family: durations
        ("2025年", "60分钟", figures.ADDS),  # a year is not a duration: more detail, not a contradiction
        ("两人", "", figures.SAME),  # a weak figure alone is no figure
        ("两人", "三人", figures.CONFLICT),  # but it counts against one of its unit
    ],
)
def test_relation_between_two_claims_figures(mine: str, theirs: str, relation: str) -> None:
    assert figures.relation(figures.read(mine), figures.read(theirs)) == relation


def test_masking_replaces_each_figure_with_one_placeholder() -> None:
    text = "Meta会在年底前采购约三十五万块H100"
    assert figures.masked(text, figures.read(text)) == f"Meta会在年底前采购约{figures.PLACEHOLDER}H100"


@pytest.mark.parametrize("case", CONFLICTS, ids=[c["why"] for c in CONFLICTS])
def test_conflict_table_through_the_ingest(tmp_path: Path, case: dict[str, str]) -> None:
    """The whole path: the known claim stored, the new one found through the index, decided, recorded."""
    fate = fate_after(tmp_path, case["known"], case["new"])
    got = {"known": "near", "paraphrase": "near"}.get(fate.fate, fate.fate)
    assert got == case["verdict"], (case["why"], fate)


# -- properties ------------------------------------------------------------------------------------


def _cn(n: int) -> str:
    return "两" if n == 2 else str(cn2an.an2cn(n))


def _counts(value: int) -> st.SearchStrategy[str]:
    return st.sampled_from([f"{value}万块", f"{_cn(value)}万块", f"{value * 10_000:,}块", f"{value * 10_000}块"])


def _percent(value: int) -> st.SearchStrategy[str]:
    forms = [f"{value}%", f"百分之{_cn(value).replace('两', '二')}"]
    if value % 10 == 0:
        forms.append(f"{_cn(value // 10)}成")
    return st.sampled_from(forms)


def _multiple(value: int) -> st.SearchStrategy[str]:
    forms = [f"{value}倍", f"{_cn(value)}倍"]
    return st.sampled_from([*forms, "翻倍"] if value == 2 else forms)


def _hours(value: int) -> st.SearchStrategy[str]:
    return st.sampled_from([f"{value}小时", f"{_cn(value)}个小时", f"{value * 60}分钟", f"{_cn(value)}小时"])


def _fraction(value: tuple[int, int]) -> st.SearchStrategy[str]:
    nom, den = value
    forms = [f"{_cn(den).replace('两', '二')}分之{_cn(nom).replace('两', '一' if nom == 1 else '二')}"]
    return st.sampled_from([*forms, "一半"] if (nom, den) == (1, 2) else forms)


_VAGUE = {
    3: ["上千", "数千"], 4: ["数万", "上万"], 5: ["数十万"],
    6: ["数百万", "上百万"], 7: ["数千万"], 8: ["数亿", "上亿"],
}  # fmt: skip


def _vague(value: int) -> st.SearchStrategy[str]:
    return st.sampled_from(_VAGUE[value])


#: kind -> (values to draw from, their written forms, a sentence with a slot)
KINDS = {
    "count": (
        st.integers(2, 900), _counts, "扎克伯格表示，Meta会在年底前采购{}英伟达H100 GPU，用于训练下一代Llama模型。"
    ),
    "percent": (st.integers(1, 99), _percent, "黄仁勋说，英伟达数据中心业务{}的收入来自推理，而不是训练。"),
    "multiple": (st.integers(2, 10), _multiple, "黄仁勋表示，借助加速计算，这类工作负载的效率提高了{}。"),
    "hours": (
        st.integers(1, 6), _hours, "黄仁勋与扎克伯格在SIGGRAPH大会上进行了一场{}的对谈，话题涵盖开源模型与智能眼镜。"
    ),
    "fraction": (
        st.tuples(st.integers(1, 9), st.integers(2, 10)).filter(lambda p: p[0] < p[1] and _coprime(*p)),
        _fraction,
        "扎克伯格预计，未来{}的社交媒体内容将由AI生成或推荐。",
    ),
    "vague": (st.sampled_from(sorted(_VAGUE)), _vague, "扎克伯格认为，智能眼镜最终会拥有{}用户，成为下一个计算平台。"),
}
HEDGES = st.sampled_from(["", "约", "近", "将近", "超过", "逾", "大约"])


def _coprime(a: int, b: int) -> bool:
    while b:
        a, b = b, a % b
    return a == 1


@st.composite
def reworded(draw: st.DrawFn, sentence: str) -> str:
    """A reprint's light rewording: another script, other punctuation, a nickname, a lead-in."""
    if draw(st.booleans()):
        sentence = sentence.replace("扎克伯格", draw(st.sampled_from(["小扎", "祖克柏", "扎克伯格"])))
    if draw(st.booleans()):
        sentence = sentence.replace("黄仁勋", draw(st.sampled_from(["老黄", "黄仁勋"])))
    if draw(st.booleans()):
        sentence = sentence.replace("，", ",")
    if draw(st.booleans()):
        sentence = "据报道，" + sentence
    if draw(st.booleans()):
        sentence = TRADITIONAL.normalize(sentence)
    return sentence


@st.composite
def pair(draw: st.DrawFn, same: bool) -> tuple[str, str]:
    """A known sentence and a reworded one stating the same figure (``same``) or another of its kind."""
    kind = draw(st.sampled_from(sorted(KINDS)))
    values, forms, sentence = KINDS[kind]
    first = draw(values)
    second = first if same else draw(values.filter(lambda v: v != first))
    known = sentence.format(draw(HEDGES) + draw(forms(first)))
    new = sentence.format(draw(HEDGES) + draw(forms(second)))
    return known, draw(reworded(new))


def _verdict(known: str, new: str) -> tuple[str, int | None]:
    a, b = CANON(NORM.normalize(known)), CANON(NORM.normalize(new))
    match = decide(key_of(b), b, [Candidate(7, a, key_of(a))], shingle=2, threshold=0.3)
    return match.kind, match.conflict


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair(same=False))
def test_a_changed_figure_is_never_silently_known(texts: tuple[str, str]) -> None:
    """Whatever the words, the hedge, the script and the rewording: a near-duplicate stating another figure is
    new and carries its conflict with the claim it contradicts."""
    kind, conflict = _verdict(*texts)
    assert (kind, conflict) == ("new", 7), texts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair(same=True))
def test_the_same_figure_in_other_words_is_known(texts: tuple[str, str]) -> None:
    kind, conflict = _verdict(*texts)
    assert (kind, conflict) == ("near", None), texts


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 10**12 - 1))
def test_chinese_numerals_read_as_cn2an_writes_them(n: int) -> None:
    """Our reader of Chinese numerals against an independent writer of them (cn2an, a test dependency only)."""
    assert figures.chinese_number(str(cn2an.an2cn(n))) == n
    assert figures.chinese_number(str(cn2an.an2cn(n)).replace("二", "两")) == n or "二" not in str(cn2an.an2cn(n))


@pytest.mark.parametrize(
    ("numeral", "value"),
    [("两千五", 2500), ("三万五", 35000), ("一百二", 120), ("一千零五", 1005), ("二〇二四", 2024), ("万一", None),
     ("一二三", 123), ("十", 10), ("三点五", None)],
)  # fmt: skip
def test_chinese_numerals_as_written_in_news(numeral: str, value: int | None) -> None:
    assert figures.chinese_number(numeral) == value


@pytest.mark.parametrize("text", ["一到一个人", "十到一", "两到一次", "7-3", "2024-07"])
def test_a_range_that_is_no_range_is_not_an_error(text: str) -> None:
    figures.read(text)  # no exception: a backwards or empty range is read as what it is, or not at all


def test_the_canonical_form_leaves_vague_magnitudes_to_the_figures() -> None:
    assert CANON("数十万块") == "数十万块" and CANON("三十五万块") == "350000块"
    assert [(f.value, f.unit) for f in figures.read(CANON("数十万块"))] == [("~1e5", "块")]
