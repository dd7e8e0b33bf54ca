"""Normalization and claim splitting on the real seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import SEEDS, seed

from monitor.claims import MAX_CLAIM_CHARS, boilerplate_rules, marker_rules, sentences, split
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


def test_runs_too_long_to_be_one_sentence_are_not_claims() -> None:
    """A run of text with no sentence mark over MAX_CLAIM_CHARS (a listing flattened into one line, a page of one
    letter) is dropped as too long, whole; the seed's real sentences around it stay claims."""
    text = seed("004").read_text("utf-8")
    entry = "第{}场 地点：经济学院第二教学楼{} 主席：某某（某大学） 评论人：某某（某研究所）"
    listing = "　".join(entry.format(i, 200 + i) for i in range(40))
    padded = text + "\n\n" + listing + "\n\n" + "a" * 200_000 + "\n"
    claims, dropped = split(padded, NORM.normalize_many, key_of)
    assert [c.text for c in claims] == [c.text for c in split(text, NORM.normalize_many, key_of)[0]]
    too_long = [d for d in dropped if d.rule == "too-long"]
    assert [len(d.text) for d in too_long] == [len(listing), 200_000]
    assert max(len(c.text) for c in claims) <= MAX_CLAIM_CHARS


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


BOILERPLATE = json.loads((Path(__file__).parent / "data" / "boilerplate.json").read_text("utf-8"))
BOILERPLATE_LINES = BOILERPLATE["lines"]


@pytest.mark.parametrize("line", BOILERPLATE_LINES, ids=[line["text"][:16] for line in BOILERPLATE_LINES])
def test_boilerplate_table(line: dict) -> None:
    found, dropped = split(line["text"], NORM.normalize_many, key_of)
    if line.get("keep"):
        assert [c.text for c in found] == [line["text"]] and not dropped
    else:
        # a notice or an editor's note of several sentences goes whole, under the rule that dropped its first
        assert not found and dropped and {d.rule for d in dropped} == {line["drop"]}, (found, dropped)


@pytest.mark.parametrize("text", BOILERPLATE["claims"], ids=[text[:16] for text in BOILERPLATE["claims"]])
def test_claims_that_mention_boilerplate_words_are_kept(text: str) -> None:
    found, dropped = split(text, NORM.normalize_many, key_of)
    assert [c.text for c in found] == [text] and not dropped, dropped


@pytest.mark.parametrize("case", BOILERPLATE["markers"], ids=[case["text"][:16] for case in BOILERPLATE["markers"]])
def test_a_marker_glued_to_a_sentence_is_cut_off(case: dict) -> None:
    found, dropped = split(case["text"], NORM.normalize_many, key_of)
    if case["claim"] is None:
        assert not found and [d.rule for d in dropped] == [case["drop"]]
        return
    (claim,) = found
    # the claim is the rest as written (a piece of the document), normalized and keyed on its own
    assert claim.text == case["claim"] and case["text"].endswith(claim.text)
    assert claim.normalized == NORM.normalize(case["claim"]) and claim.key == key_of(claim.normalized)
    marker = case["text"][: -len(claim.text)].strip()
    assert [(d.rule, d.text) for d in dropped] == [(case["drop"], marker)]


def test_every_rule_has_a_case() -> None:
    named = {line["drop"] for line in BOILERPLATE_LINES if "drop" in line} | {c["drop"] for c in BOILERPLATE["markers"]}
    rules = {r.name for r in boilerplate_rules()} | {r.name for r in marker_rules()}
    # the seed and dev-set tests above cover the older rules; every rule added since has its cases here
    assert rules - named <= {"editor-line", "byline", "source-line", "dateline-meta", "end-mark", "editorial-note"}


def test_seed_chrome_after_the_story_is_dropped() -> None:
    claims, dropped = split(seed("002").read_text("utf-8"), NORM.normalize_many, key_of)
    texts = " ".join(c.text for c in claims)
    assert "微信搜索" not in texts and "特别声明" not in texts and "Notice" not in texts
    assert {"app-promotion", "disclaimer"} <= {d.rule for d in dropped}


# --- speakers --------------------------------------------------------------------------------------

def _speakers(text: str) -> dict[str, str | None]:
    claims, _ = split(text, NORM.normalize_many, key_of)
    return {c.text: c.speaker for c in claims}


@pytest.mark.parametrize(
    ("text", "speaker"),
    [
        # a known person, by any name aliases.toml gives them, in any script
        ("黃仁勳：我們改變了公司的一切，從處理器到系統。", "黄仁勋"),
        ("小扎: 开源模型会成为行业标准，就像Linux一样。", "小扎"),
        ("Jensen Huang: Accelerated computing changes every industry.", "Jensen Huang"),
        ("马克·扎克伯格：我们会继续开源Llama系列模型。", "马克·扎克伯格"),
        # a role
        ("主持人：请两位谈谈开源模型对行业的影响。", "主持人"),
        ("Moderator: What do you expect from open source models?", "Moderator"),
        # a known name with a speech verb: the name speaks
        ("扎克伯格说：“我们不想与人分享它，但开源更好。”", "扎克伯格"),
        ("黄仁勋回应称：“这件夹克只有两个小时的历史。”", "黄仁勋"),
        # not who speaks: a heading run into its paragraph, a notice, a Q/A marker, an unknown one-off label
        ("随时随地部署：NIM 专为可移植性和可控性而构建，支持跨各种基础设施进行模型部署。", None),
        ("老黄小扎对谈：开源AI正变革互联网时代的每一个角落。", None),
        ("Highlights: Meta will hold its developer conference in September this year.", None),
        ("Q: What did Zuckerberg say about open source models?", None),
        ("问：您如何看待开源模型与闭源模型之间的竞争？", None),
        ("汉森指出：宇航员在太空中的饮食受到严格的限制。", None),
        ("他说：“这是我们今年最重要的发布之一。”", None),
    ],
)
def test_a_label_is_a_speaker_only_when_it_says_who_speaks(text: str, speaker: str | None) -> None:
    (found,) = _speakers(text).values()
    assert found == speaker


def test_a_transcript_repeats_its_speakers_and_headings_stay_headings() -> None:
    transcript = "\n".join([
        "李金泽：我们希望为农机行业搭建一个现代化的信息平台。",
        "記者：這個平台什麼時候能夠上線？",
        "李金泽：预计明年上半年就可以投入使用。",
        "记者：平台的收费标准是怎样的？",
        "研究假设一：社会资本越多的职工越容易实现再就业。",
        "研究假设二：人力资本越多的职工越容易实现再就业。",
        "图注：李金泽在公司的生产车间里接受记者的采访。",
        "图注：公司生产的新型农机已经在黑龙江推广使用。",
        "那是一个很好的开始，他在采访的最后这样总结道。",
    ])
    spoken = _speakers(transcript)
    assert [spoken[c] for c in spoken] == ["李金泽", "记者", "李金泽", "记者", None, None, None, None, None]


def test_seed_headings_and_notices_are_no_speakers() -> None:
    speakers = {c.speaker for path in sorted(SEEDS.iterdir())
                for c in split(path.read_text("utf-8"), NORM.normalize_many, key_of)[0]}
    assert speakers == {None, "黄仁勋", "扎克伯格"}


def test_a_quoted_speaker_speaks_only_inside_the_quote() -> None:
    text = (
        "扎克伯格说：“我们会继续开源Llama，因为这对开发者有好处。我们也会继续加大投入。”这番话在业内引发了热议，"
        "不少开发者表示赞同。\n"
        "黄仁勋：机器人需要三台计算机。这一句仍是他在说，没有引号。"
    )
    claims, _ = split(text, NORM.normalize_many, key_of)
    assert [(c.speaker, c.text[:6]) for c in claims] == [
        ("扎克伯格", "扎克伯格说："), ("扎克伯格", "我们也会继续"), (None, "这番话在业内"),
        ("黄仁勋", "黄仁勋：机器"), ("黄仁勋", "这一句仍是他"),
    ]  # fmt: skip
