"""URL identity (``monitor.sources.urls``) and feed parsing (``monitor.sources.feeds``): spellings of
one article meet, tracking parameters go, non-web URLs are refused; RSS and Atom entries come out
once each with absolute links, titles decoded, and no entity of a hostile feed expanded."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from monitor.errors import SourceError
from monitor.models import FeedEntry
from monitor.sources import feeds
from monitor.sources.urls import BadUrl, normalize, origin

# --- normalize ---------------------------------------------------------------------------------

def test_scheme_and_host_are_lower_cased_but_not_the_path() -> None:
    assert normalize("HTTPS://News.Example.CN/AI/Story.html") == "https://news.example.cn/AI/Story.html"


@pytest.mark.parametrize(("url", "expected"), [
    ("http://news.example.cn:80/a", "http://news.example.cn/a"),
    ("https://news.example.cn:443/a", "https://news.example.cn/a"),
    ("http://news.example.cn:443/a", "http://news.example.cn:443/a"),
    ("https://news.example.cn:80/a", "https://news.example.cn:80/a"),
    ("https://news.example.cn:8443/a", "https://news.example.cn:8443/a"),
])
def test_only_the_default_port_of_the_scheme_is_dropped(url: str, expected: str) -> None:
    assert normalize(url) == expected


@pytest.mark.parametrize("url", ["https://a.example/x#top", "https://a.example/x#", "https://a.example/x#!/comments"])
def test_the_fragment_is_dropped(url: str) -> None:
    assert normalize(url) == "https://a.example/x"


@pytest.mark.parametrize("tracker", [
    "utm_source=weibo", "utm_medium=social", "UTM_Campaign=0730", "fbclid=IwAR0x", "gclid=Cj0K", "spm=a2h0c.8166622",
    "share_token=abc", "from_wecom=1", "igshid=x1",
])
def test_tracking_parameters_are_dropped_and_the_rest_keep_their_order(tracker: str) -> None:
    url = f"https://news.example.cn/detail?z=9&{tracker}&id=3&a=1"
    assert normalize(url) == "https://news.example.cn/detail?z=9&id=3&a=1"


def test_only_tracking_parameters_leave_no_query() -> None:
    assert normalize("https://a.example/x?utm_source=a&fbclid=b&spm=c") == "https://a.example/x"
    assert normalize("https://a.example/x?") == "https://a.example/x"


@pytest.mark.parametrize("kept", ["spmx=1", "utm=1", "from=timeline", "ref=home", "id=3", "p"])
def test_parameters_that_only_look_like_trackers_stay(kept: str) -> None:
    assert normalize(f"https://a.example/x?{kept}") == f"https://a.example/x?{kept}"


@pytest.mark.parametrize("query", ["q=a%2Bb", "q=c%26d", "q=a%23b", "q=a%25b", "q=a%20b"])
def test_reserved_characters_stay_percent_encoded_in_the_query(query: str) -> None:
    """Decoding them would change what the server reads (%2B is a plus, + a space; %26 is not a separator)."""
    assert normalize(f"https://a.example/s?{query}") == f"https://a.example/s?{query}"


def test_empty_query_parameters_are_dropped() -> None:
    assert normalize("https://a.example/x?a=1&&b=2&") == "https://a.example/x?a=1&b=2"


def test_a_tracker_value_with_an_encoded_ampersand_goes_whole() -> None:
    assert normalize("https://a.example/x?utm_source=a%26b&id=1") == "https://a.example/x?id=1"


def test_percent_encoding_is_upper_case_and_non_ascii_is_encoded() -> None:
    assert normalize("https://a.example/%e4%b8%ad?q=%e6%96%b0") == "https://a.example/%E4%B8%AD?q=%E6%96%B0"
    assert normalize("https://a.example/中文?q=新闻") == "https://a.example/%E4%B8%AD%E6%96%87?q=%E6%96%B0%E9%97%BB"


@pytest.mark.parametrize(("url", "expected"), [
    ("https://a.example/a/./b/../c.html", "https://a.example/a/c.html"),
    ("https://a.example/a/b/../../c", "https://a.example/c"),
    ("https://a.example/./x", "https://a.example/x"),
])
def test_dot_segments_are_resolved(url: str, expected: str) -> None:
    assert normalize(url) == expected


def test_an_empty_path_is_the_root() -> None:
    assert normalize("https://A.example") == "https://a.example/"
    assert normalize("https://a.example?id=3") == "https://a.example/?id=3"


def test_an_international_host_is_punycode() -> None:
    assert normalize("https://例子.中国/新闻") == "https://xn--fsqu00a.xn--fiqs8s/%E6%96%B0%E9%97%BB"


def test_surrounding_white_space_is_ignored() -> None:
    assert normalize("  https://a.example/x\n") == "https://a.example/x"


def test_a_space_in_the_path_or_query_is_encoded_as_browsers_do() -> None:
    assert normalize("https://a.example/x y?q=a b") == "https://a.example/x%20y?q=a%20b"


def test_two_spellings_of_one_article_normalize_equal() -> None:
    shared = "https://www.xinrui.example/ai/2024/07/30/88231.html?id=3"
    tracked = "HTTPS://WWW.Xinrui.Example:443/ai/2024/07/./30/88231.html?utm_source=weibo&id=3&spm=a.b#comments"
    assert normalize(shared) == normalize(tracked) == shared


def test_different_articles_stay_different() -> None:
    assert normalize("https://a.example/news?id=3") != normalize("https://a.example/news?id=4")
    assert normalize("https://a.example/news?id=3&page=2") != normalize("https://a.example/news?page=2&id=3")
    assert normalize("http://a.example/x") != normalize("https://a.example/x")


@pytest.mark.parametrize("url", [
    "HTTP://News.Example.CN:80/a/../b.html?utm_source=x&id=3#top",
    "https://例子.中国/新闻?q=新",
    "https://a.example/x?q=a%2Bb&r=[1]",
])
def test_normalize_is_idempotent(url: str) -> None:
    once = normalize(url)
    assert normalize(once) == once


@pytest.mark.parametrize("url", [
    "ftp://a.example/file.txt", "mailto:desk@a.example", "javascript:alert(1)", "file:///etc/passwd",
    "data:text/html,<p>x</p>",
])
def test_urls_that_are_not_http_are_refused(url: str) -> None:
    with pytest.raises(BadUrl, match="not an http or https URL"):
        normalize(url)


@pytest.mark.parametrize("url", ["/a/b", "a/b.html", "//a.example/x", "a.example/x", "", "   "])
def test_relative_urls_are_refused(url: str) -> None:
    with pytest.raises(BadUrl, match="not an absolute URL"):
        normalize(url)


@pytest.mark.parametrize("url", [
    "https:///x", "http://:80/", "https://a.example:99999/", "https://a.example:abc/", "https://a.example:0/",
    "https://a b.example/", "https://a.example/x\ty", "https://a.example/x?q=a\nb",
])
def test_no_host_a_bad_port_or_white_space_is_refused(url: str) -> None:
    with pytest.raises(BadUrl, match="not a valid URL"):
        normalize(url)


def test_bad_url_is_a_value_error() -> None:
    assert issubclass(BadUrl, ValueError)


@pytest.mark.parametrize(("url", "expected"), [
    ("https://news.example.cn/a/b?c=1", "https://news.example.cn"),
    ("http://news.example.cn:8080/a", "http://news.example.cn:8080"),
    ("https://user:secret@news.example.cn/a", "https://news.example.cn"),
    ("https://news.example.cn/", "https://news.example.cn"),
])
def test_origin_is_scheme_host_and_port(url: str, expected: str) -> None:
    assert origin(url) == expected


def test_origin_of_a_normalized_url_drops_the_default_port() -> None:
    assert origin(normalize("HTTPS://News.Example.cn:443/x?y=1#z")) == "https://news.example.cn"


# --- feeds -------------------------------------------------------------------------------------

FEED_URL = "https://news.example.cn/rss/ai.xml"

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0">
<channel>
  <title>新锐科技网 人工智能</title>
  <link>https://news.example.cn/ai/</link>
  <description>人工智能频道</description>
  <item>
    <title>黄仁勋对谈扎克伯格：Meta发布AI Studio与SAM 2</title>
    <link>/ai/2024/07/30/88231.html</link>
    <pubDate>Tue, 30 Jul 2024 10:26:00 +0800</pubDate>
  </item>
  <item>
    <title>  扎克伯格：下一代计算平台是智能眼镜  </title>
    <guid isPermaLink="true">https://news.example.cn/ai/2024/07/31/88232.html</guid>
    <pubDate>Wed, 31 Jul 2024 09:00:00 GMT</pubDate>
  </item>
  <item>
    <title>没有链接的条目</title>
    <description>只有摘要，没有文章链接。</description>
  </item>
  <item>
    <title>不是网址的条目</title>
    <guid isPermaLink="false">88233-draft</guid>
    <link>javascript:void(0)</link>
  </item>
  <item>
    <title>黄仁勋对谈扎克伯格（重复）</title>
    <link>https://news.example.cn/ai/2024/07/30/88231.html</link>
  </item>
  <item>
    <title></title>
    <link>https://news.example.cn/ai/2024/07/31/88234.html</link>
  </item>
</channel>
</rss>
""".encode()


def test_rss_entries_come_out_in_order_once_each_with_absolute_links() -> None:
    assert feeds.parse(RSS, FEED_URL, "application/rss+xml") == (
        FeedEntry("https://news.example.cn/ai/2024/07/30/88231.html", "黄仁勋对谈扎克伯格：Meta发布AI Studio与SAM 2",
                  "2024-07-30"),
        FeedEntry("https://news.example.cn/ai/2024/07/31/88232.html", "扎克伯格：下一代计算平台是智能眼镜",
                  "2024-07-31"),
        FeedEntry("https://news.example.cn/ai/2024/07/31/88234.html", None, None),
    )


def test_a_relative_link_resolves_against_the_feed_url() -> None:
    rss = b"""<rss version="2.0"><channel><title>t</title>
      <item><title>a</title><link>88231.html</link></item>
      <item><title>b</title><link>../world/1.html</link></item>
    </channel></rss>"""
    assert [e.url for e in feeds.parse(rss, "https://news.example.cn/rss/ai/index.xml")] == [
        "https://news.example.cn/rss/ai/88231.html", "https://news.example.cn/rss/world/1.html",
    ]


def test_the_date_is_the_one_the_feed_writes_in_its_own_time_zone() -> None:
    """07:00 in Beijing on the 31st is the 30th in UTC; the article is dated the 31st, like its page."""
    rss = b"""<rss version="2.0"><channel><title>t</title>
      <item><title>a</title><link>https://a.example/1</link><pubDate>Wed, 31 Jul 2024 07:00:00 +0800</pubDate></item>
      <item><title>b</title><link>https://a.example/2</link><pubDate>Tue, 30 Jul 2024 23:30:00 -0500</pubDate></item>
    </channel></rss>"""
    assert [e.published for e in feeds.parse(rss, FEED_URL)] == ["2024-07-31", "2024-07-30"]


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="zh-HK">
  <title>港灣數碼 科技</title>
  <id>urn:uuid:harbourdigital-tech</id>
  <updated>2024-07-31T08:45:00+08:00</updated>
  <entry>
    <title>扎克伯格談智能眼鏡與AI助手：下一代計算平台已在路上</title>
    <link rel="alternate" type="text/html" href="https://hk.example/tech/5521"/>
    <id>urn:harbourdigital:5521</id>
    <published>2024-07-31T08:45:00+08:00</published>
    <updated>2024-07-31T09:10:00+08:00</updated>
  </entry>
  <entry>
    <title>雷朋眼鏡銷量超出預期</title>
    <link href="5522"/>
    <id>urn:harbourdigital:5522</id>
    <updated>2024-07-30T21:00:00Z</updated>
  </entry>
  <entry>
    <title>只有編號的條目</title>
    <id>urn:harbourdigital:5523</id>
    <updated>2024-07-30T21:00:00Z</updated>
  </entry>
  <entry>
    <title>編號是網址的條目</title>
    <id>https://hk.example/?p=5524</id>
    <updated>2024-07-31T07:00:00+08:00</updated>
  </entry>
  <entry>
    <title>編號和連結都是網址</title>
    <id>https://hk.example/?p=5525</id>
    <link href="https://hk.example/tech/5525"/>
    <updated>2024-07-31T10:00:00+08:00</updated>
  </entry>
</feed>
""".encode()


def test_atom_entries_come_out_with_titles_links_and_dates() -> None:
    assert feeds.parse(ATOM, "https://hk.example/feeds/tech", "application/atom+xml") == (
        FeedEntry("https://hk.example/tech/5521", "扎克伯格談智能眼鏡與AI助手：下一代計算平台已在路上", "2024-07-31"),
        FeedEntry("https://hk.example/feeds/5522", "雷朋眼鏡銷量超出預期", "2024-07-30"),
        FeedEntry("https://hk.example/?p=5524", "編號是網址的條目", "2024-07-31"),  # an http id stands in for a link
        FeedEntry("https://hk.example/tech/5525", "編號和連結都是網址", "2024-07-31"),  # the link wins over the id
    )


GB2312_RSS = """<?xml version="1.0" encoding="gb2312"?>
<rss version="2.0"><channel><title>新锐科技网</title>
<item><title>黄仁勋对谈扎克伯格：开源路线再获力挺</title><link>https://news.example.cn/ai/88231.html</link></item>
</channel></rss>
""".encode("gb2312")


@pytest.mark.parametrize("content_type", [None, "application/xml", "application/rss+xml", "text/xml"])
def test_a_feed_in_gb2312_declared_in_its_prolog_decodes(content_type: str | None) -> None:
    with pytest.raises(UnicodeDecodeError):
        GB2312_RSS.decode("utf-8")
    (entry,) = feeds.parse(GB2312_RSS, FEED_URL, content_type)
    assert entry.title == "黄仁勋对谈扎克伯格：开源路线再获力挺"


@pytest.mark.parametrize("label", ["undefined", "punycode", "unicode_escape", "rot13", "x-user-defined", "utf-7",
                                   "utf-16", "no-such-charset"])
def test_a_feed_naming_no_charset_is_read_as_if_it_named_none(label: str) -> None:
    """feedparser decodes with any codec Python knows: "undefined" and "punycode" raised past it, "unicode_escape" made
    mojibake of UTF-8, and a "utf-16" declaration readable as ASCII lost the feed. Only a charset of the Encoding
    Standard counts, in the prolog as in the Content-Type; a GB2312 feed still decodes."""
    utf8 = GB2312_RSS.decode("gb2312").replace('encoding="gb2312"', f'encoding="{label}"').encode("utf-8")
    for data, content_type in ((utf8, None), (utf8, f"application/rss+xml; charset={label}"),
                               (GB2312_RSS, f'text/xml; charset="{label}"')):
        (entry,) = feeds.parse(data, FEED_URL, content_type)
        assert entry.title == "黄仁勋对谈扎克伯格：开源路线再获力挺", (label, content_type)


def test_after_a_byte_order_mark_the_mark_says_the_charset() -> None:
    text = GB2312_RSS.decode("gb2312").replace('encoding="gb2312"', 'encoding="gbk"')
    for codec in ("utf-16", "utf-8-sig"):
        (entry,) = feeds.parse(text.encode(codec), FEED_URL)
        assert entry.title == "黄仁勋对谈扎克伯格：开源路线再获力挺"


def _laughs(levels: int) -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels + 1)
    ]
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE rss [\n' + "\n".join(entities) + "\n]>\n"
        '<rss version="2.0"><channel><title>&lol3;</title>'
        f"<item><title>a &lol{levels}; b</title><link>https://a.example/1</link></item>"
        "</channel></rss>"
    ).encode()


def test_billion_laughs_are_not_expanded() -> None:
    started = time.perf_counter()
    entries = feeds.parse(_laughs(9), FEED_URL)
    assert time.perf_counter() - started < 2.0
    assert [e.url for e in entries] == ["https://a.example/1"]
    assert all("lol" * 10 not in (e.title or "") for e in entries)


@pytest.mark.parametrize("target", ["/etc/passwd", "secret"])
def test_external_entities_are_not_expanded(tmp_path: Path, target: str) -> None:
    secret = tmp_path / "secret"
    secret.write_text("root:x:0:0:SECRET-MARKER\n", "utf-8")
    path = secret if target == "secret" else Path(target)
    feed = (
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "{path.as_uri()}">]>\n'
        '<rss version="2.0"><channel><title>&xxe;</title>'
        "<item><title>a &xxe; b</title><link>https://a.example/1</link></item>"
        "</channel></rss>"
    ).encode()
    entries = feeds.parse(feed, FEED_URL)
    assert [e.url for e in entries] == ["https://a.example/1"]
    assert all("root:" not in (e.title or "") and "SECRET-MARKER" not in (e.title or "") for e in entries)


@pytest.mark.parametrize("data", [
    b"<!DOCTYPE html><html><head><title>x</title></head><body><p>not a feed</p></body></html>",
    "<html><body><p>新闻首页</p></body></html>".encode("gbk"),
    b"\x00\x01\x02garbage\xff\xfe",
    b"just some text",
    b"",
    b'{"items": [{"url": "https://a.example/1"}]}',
])
def test_what_is_not_a_feed_is_a_source_error_naming_the_url(data: bytes) -> None:
    with pytest.raises(SourceError, match="not an RSS or Atom feed") as caught:
        feeds.parse(data, FEED_URL, "text/html")
    assert caught.value.locator == FEED_URL and str(caught.value).startswith(FEED_URL)


def test_a_feed_with_no_items_has_no_entries() -> None:
    assert feeds.parse(b'<rss version="2.0"><channel><title>t</title></channel></rss>', FEED_URL) == ()


def test_a_broken_feed_that_gives_no_entry_is_a_source_error_and_one_that_gives_some_keeps_them() -> None:
    """Mismatched tags that leave nothing readable are a failing feed (not a healthy empty one); broken markup
    after readable items still gives those items."""
    for broken in (b'<rss version="2.0"><channel><title>t</title><item><title>a</titl></item></channel></rss>',
                   b'<rss version="2.0"><channel><title>t</titl></channel></rss>'):
        with pytest.raises(SourceError, match="not a well-formed feed") as caught:
            feeds.parse(broken, FEED_URL)
        assert caught.value.locator == FEED_URL
    tail = RSS.replace(b"</channel>", b"<item><title>x</titl></item></channel>")
    assert feeds.parse(tail, FEED_URL) == feeds.parse(RSS, FEED_URL)
