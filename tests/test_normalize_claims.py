"""Normalization and claim splitting on the real seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import SEEDS, seed

from monitor.claims import boilerplate_rules, sentences, split
from monitor.normalize import Normalizer, key_of

NORM = Normalizer("t2s")


def test_traditional_and_simplified_reprints_share_one_key() -> None:
    trad = next(line for line in seed("000").read_text("utf-8").splitlines() if "30歲才成爲英偉達" in line)
    simp = next(line for line in seed("004").read_text("utf-8").splitlines() if "30岁才成为英伟达" in line)
    trad_sentence = next(s for s in sentences(trad) if "30歲" in s)
    simp_sentence = next(s for s in sentences(simp) if "30岁" in s)
    assert trad_sentence != simp_sentence
    assert NORM.key(trad_sentence) == NORM.key(simp_sentence)


def test_full_and_half_width_punctuation_normalize_alike() -> None:
    line = next(line for line in seed("003").read_text("utf-8").splitlines() if line.startswith("扎克伯格："))
    half = line.replace("：", ":").replace("，", ",").replace("（", "(").replace("）", ")")
    assert NORM.normalize(line) == NORM.normalize(half)
    assert "：" not in NORM.normalize(line)


def test_whitespace_is_folded_and_key_keeps_letters_and_digits() -> None:
    assert NORM.normalize("  Llama\u3000 3.1\n模型 ") == "Llama 3.1 模型"
    assert key_of(NORM.normalize("“Llama 3.1”模型！")) == "llama31模型"


def test_unknown_opencc_config_is_refused() -> None:
    with pytest.raises(ValueError, match="t2x"):
        Normalizer("t2x")


def test_sentences_keep_closing_quotes_and_split_on_chinese_marks() -> None:
    text = "黄仁勋说，“未来，每一家餐厅，每一个网站都可能有这些AI……”。扎克伯格回应道：好的！还有吗？"
    assert list(sentences(text)) == [
        "黄仁勋说，“未来，每一家餐厅，每一个网站都可能有这些AI……”。",
        "扎克伯格回应道：好的！",
        "还有吗？",
    ]


def test_marks_inside_book_titles_do_not_end_a_sentence() -> None:
    line = next(line for line in seed("001").read_text("utf-8").splitlines() if "《Meta大模型核心团队一半出走!" in line)
    (whole,) = [s for s in sentences(line) if "一半出走" in s]
    assert "内部三大矛盾首次被曝》" in whole


def test_western_sentences_split_but_decimals_and_initials_do_not() -> None:
    text = "Meta released Llama 3.1 today. Mr. Huang spoke first. It was fine."
    assert list(sentences(text)) == ["Meta released Llama 3.1 today.", "Mr. Huang spoke first.", "It was fine."]


def test_transcript_turns_keep_their_speaker() -> None:
    claims, _ = split(seed("003").read_text("utf-8"), NORM.normalize_many, key_of)
    turn = next(c for c in claims if c.text.startswith("扎克伯格：所以，我認為開源策略"))
    assert turn.speaker == "扎克伯格"
    # a later sentence of the same paragraph keeps the speaker; a narrative paragraph has none
    huang = [c for c in claims if c.speaker == "黄仁勋"]
    assert len(huang) > 5 and all(c.speaker is None or len(c.speaker) <= 6 for c in claims)


def test_seed_boilerplate_is_dropped_with_its_rule() -> None:
    _, dropped = split(seed("001").read_text("utf-8"), NORM.normalize_many, key_of)
    rules = {d.rule for d in dropped}
    assert {"disclaimer", "copyright"} <= rules
    texts = " ".join(d.text for d in dropped)
    assert "免责声明" in texts and "不构成任何投资建议" in texts


def test_app_promotion_and_editor_lines_are_dropped() -> None:
    _, dropped = split(seed("002").read_text("utf-8"), NORM.normalize_many, key_of)
    assert any(d.rule == "app-promotion" and "客户端" in d.text for d in dropped)
    assert any(d.rule == "byline" for d in dropped)


def test_short_fragments_and_headings_are_not_claims() -> None:
    claims, dropped = split(seed("002").read_text("utf-8"), NORM.normalize_many, key_of)
    assert any(d.rule == "too-short" for d in dropped)
    assert all(len(c.key) >= 8 for c in claims)
    assert "开源的重要性" not in {c.text for c in claims}


def test_every_seed_yields_claims_with_positions_in_order() -> None:
    for path in sorted(SEEDS.iterdir()):
        claims, _ = split(path.read_text("utf-8"), NORM.normalize_many, key_of)
        assert len(claims) > 20, path.name
        assert [c.position for c in claims] == list(range(len(claims)))


def test_boilerplate_rules_are_data_with_names() -> None:
    rules = boilerplate_rules()
    assert len(rules) >= 8
    assert len({r.name for r in rules}) == len(rules)


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("责任编辑：周萌", "editor-line"),
        ("（编辑:王珂）", "editor-line"),
        ("免責聲明:本網站所載資料僅供參考,並不構成任何投資建議。", "disclaimer"),
        ("更多一手资讯,欢迎关注芯潮观察公众号。", "app-promotion"),
        ("© 2024 港灣數碼有限公司 版權所有，不得轉載", "copyright"),
        ("（完）", "end-mark"),
        ("图为黄仁勋与扎克伯格在SIGGRAPH 2024现场对谈（图片来源：英伟达）", "photo-credit"),
    ],
)
def test_dev_set_style_boilerplate(line: str, rule: str) -> None:
    claims, dropped = split(line, NORM.normalize_many, key_of)
    assert not claims
    assert [d.rule for d in dropped] == [rule]


def test_normalize_many_matches_one_by_one() -> None:
    lines = [line for path in sorted(SEEDS.iterdir()) for line in path.read_text("utf-8").splitlines()]
    assert NORM.normalize_many(lines) == [NORM.normalize(line) for line in lines]
    assert NORM.normalize_many(["a\nb", "c"]) == ["a b", "c"]


BOILERPLATE_LINES = json.loads((Path(__file__).parent / "data" / "boilerplate.json").read_text("utf-8"))["lines"]


@pytest.mark.parametrize("line", BOILERPLATE_LINES, ids=[line["text"][:16] for line in BOILERPLATE_LINES])
def test_boilerplate_table(line: dict) -> None:
    found, dropped = split(line["text"], NORM.normalize_many, key_of)
    if line.get("keep"):
        assert [c.text for c in found] == [line["text"]] and not dropped
    else:
        assert not found and [d.rule for d in dropped] == [line["drop"]], (found, dropped)
