"""The per-document cleaning steps, on real pages and on the cases Chinese and English corpora bring."""

from __future__ import annotations

import json
import random
import re

import pytest

from core.data.cleaning.outcome import Dropped
from core.data.cleaning.steps import (
    BATCH_FUNCTIONS,
    STEP_FUNCTIONS,
    convert_chinese,
    filter_characters,
    fix_mojibake,
    html_to_text,
    language_filter,
    normalize_whitespace,
    normalize_width,
    quality_filter,
)
from tests.conftest import SHARED, require

HTML_DIR = SHARED / "data" / "html"
POETRY = SHARED / "data" / "zh-poetry" / "poet.tang.0.json"
HAN_GAP = re.compile(r"[\u4e00-\u9fff]\s+[\u4e00-\u9fff]")

# For each page: sentences of its article body (that must survive) and navigation/footer strings (that must not).
PAGES = {
    "baike.baidu.com.tanya.html": (
        ["1975年出生于新加坡，家里有一个姐姐。", "1996年参与音乐剧Hot Pants的演出。", "2000年宝丽金唱片并入环球唱片旗下"],
        ["使用百度前必读", "举报不良信息", "百度首页"],
    ),
    "bbc.com.52241221.html": (
        [
            "Workers in hazmat outfits were seen stacking wooden coffins in deep trenches in Hart Island.",
            "New York state now has more coronavirus cases than any single country.",
            "Normally, about 25 bodies a week are interred on the island",
        ],
        ["Share this with Facebook", "Accessibility Help", "Parental Guidance"],
    ),
    "blog.python.org.html": (
        [
            "Python 3.6.0 is the newest major release of the Python language",
            "We hope you enjoy Python 3.6.0!",
        ],
        ["Subscribe to Python Insider via RSS", "Powered by Blogger", "Older Post"],
    ),
    "blog.wordpress.com.diverse.html": (
        [
            "The mission of WordPress is to democratize publishing",
            "In 2018, the group supported and advised 55 WordPress communities in 26 different countries.",
        ],
        ["Click to share on Twitter", "other followers", "Sorry, your blog cannot share posts by email."],
    ),
    "chineselyrics4u.com.zhineng.html": (
        ["我还有话想对你说", "离别的话最难说出口", "Wo hai you hua xiang dui ni shuo"],
        ["Donations could be done via the link below.", "Powered by Blogger", "Blog Archive"],
    ),
    "en.wikipedia.org.tsne.html": (
        [
            "It is a nonlinear dimensionality reduction technique well-suited for embedding high-dimensional data",
            "The t-SNE algorithm comprises two main stages.",
        ],
        ["Jump to navigation", "Text is available under the Creative Commons", "Download as PDF"],
    ),
    "github.blog.spiceland.html": (
        ["Erin Spiceland is a Software Engineer for SpaceX.", "In 2007, I had a three-year-old daughter"],
        ["Share on LinkedIn", "Back to GitHub.com", "Search by Keyword"],
    ),
    "reuters.com.parasite.html": (
        [
            "was the upset winner at the Screen Actors Guild (SAG) awards on Sunday",
            "Sexual harassment drama “Bombshell” went into Sunday’s awards with a leading four nods",
        ],
        ["Do Not Sell My Personal Information", "All Rights Reserved", "Advertising Guidelines"],
    ),
    # The saved SCMP page carries no article body (it is loaded later by script): only the photo caption is text.
    "scmp.com.playbook.html": (
        ["Taiwanese President Tsai Ing-wen speaks during a televised policy debate in Taipei on December 29"],
        ["READ FULL ARTICLE", "Why you can trust SCMP"],
    ),
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_html_to_text_keeps_the_article_and_drops_the_boilerplate(name):
    require(HTML_DIR.is_dir(), f"the sample pages are missing: {HTML_DIR}")
    page = (HTML_DIR / name).read_text(encoding="utf-8")
    text = html_to_text(page, mode="auto")
    visible = " ".join(html_to_text(page, mode="strip").split())  # everything the page shows, boilerplate too
    article, boilerplate = PAGES[name]
    for sentence in article:
        assert sentence in text, f"{name}: article text lost: {sentence!r}"
    for string in boilerplate:
        assert string in visible, f"{name}: test string not on the page: {string!r}"
        assert string not in text, f"{name}: boilerplate kept: {string!r}"
    assert "<" not in text.replace("< ", "")  # no tags left over


def test_extract_separates_paragraphs_with_blank_lines():
    require(HTML_DIR.is_dir(), f"the sample pages are missing: {HTML_DIR}")
    text = html_to_text((HTML_DIR / "blog.python.org.html").read_text(encoding="utf-8"), mode="extract")
    assert "for more information.\n\nYou can download Python 3.6.0 here." in text


def test_seed_example_leaves_no_space_between_chinese_characters():
    stripped = html_to_text("这是<p>一段</p>有<b>HTML</b>标签\n\n和 多余空格的文本。", mode="strip")
    result = normalize_whitespace(stripped, join_lines=True)
    assert result == "这是一段有HTML标签和多余空格的文本。"
    assert not HAN_GAP.search(result)


def test_a_line_wrapped_in_the_html_source_between_chinese_characters_is_joined():
    fragment = "<p>这是一段在源文件里\n    被折行的中文，\n和 English\nwords.</p><p>步出夏门行 冬十月</p><pre>床前明月光\n疑是地上霜</pre>"
    text = html_to_text(fragment, mode="strip")
    assert "这是一段在源文件里被折行的中文，和 English" in text  # the breaks between Chinese characters go
    assert "步出夏门行 冬十月" in text and "床前明月光\n疑是地上霜" in text  # a real space, a <pre> line break
    page = f"<html><body><article><p>{'春天来了，公园里的花都开了。' * 4}孩子们在草地上\n奔跑。</p></article></body></html>"
    assert "孩子们在草地上奔跑。" in html_to_text(page)


def test_every_break_in_a_column_of_wrapped_chinese_lines_is_joined():
    # each character ends one break and starts the next: neither may be skipped
    assert html_to_text("<p>一\n二\r\n三 \n\t四\n\n五</p>", mode="strip") == "一二三四\n\n五"


def test_strip_removes_scripts_and_styles_and_decodes_entities():
    text = html_to_text("<div>Tom &amp; Jerry<script>alert(1)</script><style>p{}</style></div><p>&lt;3 &#20320;</p>")
    assert "alert" not in text and "p{}" not in text
    assert "Tom & Jerry" in text and "<3 你" in text


def test_auto_leaves_plain_text_with_angle_brackets_alone():
    for text in ["3 < 5 and 7 > 2", "a <= b, if x<y then", "no tags at all"]:
        assert html_to_text(text) is text


def test_fix_mojibake_repairs_and_leaves_cjk_typography_alone():
    assert fix_mojibake("cafÃ©") == "café"
    assert fix_mojibake("itâ€™s") == "it’s"
    for text in ["“你好”，世界！", "ＡＢＣ", "他说：‘好’……「对」", "plain ascii text", "ﬁne ligature"]:
        assert fix_mojibake(text) is text


def test_normalize_width():
    assert normalize_width("ＧＰＴ模型有１２层，很好！") == "GPT模型有12层，很好！"
    assert normalize_width("ａ＠ｂ．ｃｏｍ　（注意）：是；吗？") == "a@b.com （注意）：是；吗？"
    text = "“引号”与《书名》。"
    assert normalize_width(text) is text
    # Full-width symbols that stand in Chinese text as its own typography stay; next to Latin they go half-width.
    for text in ["［合前］。", "相法中无有不准．江湖上", "－我见了他"]:
        assert normalize_width(text) is text
    assert normalize_width("有１２％的人，价格＄５") == "有12%的人，价格$5"


def test_convert_chinese_turns_tang_poems_simplified():
    require(POETRY.is_file(), f"the poetry sample is missing: {POETRY}")
    poems = json.loads(POETRY.read_text(encoding="utf-8"))
    text = "\n".join(line for poem in poems[:10] for line in poem["paragraphs"])
    assert "書" in text and "風" in text and "雲" in text
    simplified = convert_chinese(text, direction="t2s")
    for traditional, simple in [("書", "书"), ("風", "风"), ("雲", "云"), ("長", "长"), ("馬", "马")]:
        if traditional in text:
            assert simple in simplified
    assert not set("書門風雲長馬來無開鳥歡觀闕") & set(simplified)
    assert simplified.count("\n") == text.count("\n")
    assert convert_chinese("书门", direction="s2t") == "書門"
    with pytest.raises(ValueError):
        convert_chinese("書", direction="x2y")


def test_normalize_whitespace():
    assert normalize_whitespace("这 是 一 段") == "这是一段"
    assert normalize_whitespace("这\u3000是\u00a0一段 ，好 。") == "这是一段，好。"
    assert normalize_whitespace("English   words\tkeep  \u00a0 single spaces  ") == "English words keep single spaces"
    # In running text (it has sentence punctuation) a space between CJK characters goes; CJK-Latin spaces stay.
    assert normalize_whitespace("GPT 模型 和 Transformer 一样。") == "GPT 模型和 Transformer 一样。"
    assert normalize_whitespace("第一段\n\n\n\n第二段  \n第三行") == "第一段\n\n第二段\n第三行"
    assert normalize_whitespace("one\r\ntwo\n\nthree\nfour 五\n六", join_lines=True) == "one two three four 五六"
    text = "already clean\n\ntext"
    assert normalize_whitespace(text) is text
    # A space that separates a title from its subtitle, or two fields, stays (squeezed to one).
    assert normalize_whitespace("步出夏门行 冬十月\n孟冬十月，北风徘徊，") == "步出夏门行 冬十月\n孟冬十月，北风徘徊，"
    assert normalize_whitespace("帝京篇十首\u3000一") == "帝京篇十首 一"
    assert normalize_whitespace("郊廟歌辭  懿宗室舞") == "郊廟歌辭 懿宗室舞"
    assert normalize_whitespace("和 多余空格的文本。") == "和多余空格的文本。"  # running text: an artifact


def test_filter_characters():
    result = filter_characters("I don't like 😀 emoji ★ or ┌─┐ boxes\x07, but 《书名》“好”。")
    assert "don't" in result and "《书名》“好”。" in result
    assert not set("😀★┌─┐\x07") & set(result)
    assert filter_characters("Devanagari नमस्ते and Café") == "Devanagari नमस्ते and Café"
    text = "Plain prose, with (some) punctuation: fine!"
    assert filter_characters(text) is text


def test_quality_filter():
    paragraph = (
        "The river ran slowly past the old mill, and the children watched the water turn the wheel. "
        "Nobody remembered when the miller had left, but the wheel still turned every spring."
    )
    assert quality_filter(paragraph) is paragraph
    chinese = "今天天气很好，我们一起去公园散步。公园里有很多人在跑步、下棋和唱歌，孩子们在草地上放风筝。"
    assert quality_filter(chinese) is chinese

    junk = quality_filter("Click here!!! $$$ ### >>> FREE ||| <<< $$$ ###")
    assert isinstance(junk, Dropped) and junk.code == "too_many_symbols"
    assert junk.values["ratio"] == round(21 / 37, 4)  # 21 symbols ($#>|<) of 37 characters that are not spaces

    # Repetition is judged on documents of 200 words or more (a CJK character is a word).
    spam = "Buy now and save.\n" * 60 + "Best prices online."
    repeated = quality_filter(spam)
    assert isinstance(repeated, Dropped) and repeated.code == "repeated_lines"
    assert quality_filter(spam, repetition_min_words=1000) is spam

    ngrams = quality_filter("buy now " * 120)
    assert isinstance(ngrams, Dropped) and ngrams.code == "repeated_ngrams"
    assert isinstance(quality_filter("哈哈" * 120), Dropped)

    nothing = quality_filter("* * * — * * *")
    assert isinstance(nothing, Dropped) and nothing.code == "too_short"
    assert nothing.message == "0 words, below the minimum of 1" and nothing.values == {"words": 0, "min": 1}
    short = quality_filter("Too short.", min_words=3)
    assert isinstance(short, Dropped) and short.values == {"words": 2, "min": 3}
    assert quality_filter("床前明月光", min_words=5) == "床前明月光"  # five characters, five words
    assert isinstance(quality_filter("床前明月", min_words=5), Dropped)
    assert quality_filter("x" * 50, max_chars=40).code == "too_long"


@pytest.mark.parametrize("text", [
    "ROMEO:\nAy.",  # a speech in a play
    "句\n扇掩將雛曲，釵承墮馬鬟。",  # a fragment of a Tang poem
    "春眠不觉晓，处处闻啼鸟。\n夜来风雨声，花落知多少。",  # a 五言绝句
    "芣苡\n采采芣苡，薄言采之。采采芣苡，薄言有之。\n采采芣苡，薄言掇之。采采芣苡，薄言捋之。\n采采芣苡，薄言袺之。采采芣苡，薄言襭之。",
    "花不可以无蝶，山不可以无泉，石不可以无苔，水不可以无藻，乔木不可以无藤萝，人不可以无癖。",
    "长相思，长相思。\n长相思。长相思。\n欲把相思说似谁，浅情人不知。",
    "团扇单衣杨柳陌。\n借秀色。\n添春色。\n借秀色。\n添春色。\n云幕华灯张绮席。",
    "素\n□□□□女，纖腰洛浦妃。\n□□遠方望，雁足上林飛。",  # □ marks characters lost from the source
    "南吕・十样锦\n［合前］〔青哥儿〕怎地弹。",
])
def test_quality_filter_keeps_verse_and_plays_as_they_are(text):
    assert quality_filter(text) is text


def test_language_filter():
    english = "The committee met on Tuesday to discuss the new budget, and most members agreed with the plan."
    chinese = "春天来了，公园里的花都开了。孩子们在草地上奔跑，老人们坐在长椅上聊天，一切都显得那么安静美好。"
    french = "Le comité s'est réuni mardi pour discuter du nouveau budget, et la plupart des membres étaient d'accord."
    german = "Der Ausschuss traf sich am Dienstag, um den neuen Haushalt zu besprechen, und die meisten waren dafür."
    assert language_filter(english, languages=("en", "zh")) is english
    assert language_filter(chinese, languages=("en", "zh")) is chinese
    for text, code in [(french, "fr"), (german, "de")]:
        dropped = language_filter(text, languages=("en", "zh"))
        assert isinstance(dropped, Dropped) and dropped.code == "wrong_language"
        assert dropped.values["language"] == code and dropped.values["confidence"] >= 0.5
    assert language_filter("Bonjour !", languages=("en",)) == "Bonjour !"  # too short to judge


def test_step_functions_in_recipe_order():
    assert list(STEP_FUNCTIONS) == [
        "html_to_text",
        "fix_mojibake",
        "normalize_width",
        "convert_chinese",
        "normalize_whitespace",
        "filter_characters",
        "quality_filter",
        "language_filter",
        "exclude_documents",
    ]


@pytest.mark.parametrize("name, params", [
    ("fix_mojibake", {}), ("normalize_width", {}), ("quality_filter", {}),
    ("quality_filter", {"repetition_min_words": 5, "max_top_ngram_fraction": 0.1}),
])
def test_a_step_over_many_documents_at_once_gives_what_it_gives_one_at_a_time(name, params):
    # The pipeline runs these steps over whole chunks (counts in one numpy pass): nothing may leak between
    # neighbouring documents (full-width symbols at a document's edge, tokens, repeated lines).
    rng = random.Random(0)
    pieces = ["a", "Ab", "the ", "哈", "春风", "，", "ＡＢ", "＠", "．", "１２", "\u3000", "\n", "cafÃ©", "&amp;", "\x07", "#$%",
              "😀", "e\u0301", " ", "buy now ", "\U00020000"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 200))) for _ in range(400)]
    texts += ["buy now " * 120, "哈哈" * 120, "", "＠", "ａ＠", "中＠"]
    one = STEP_FUNCTIONS[name]
    assert BATCH_FUNCTIONS[name](texts, **params) == [one(text, **params) for text in texts]


def test_the_top_token_bound_is_never_below_the_exact_count():
    # quality_filter counts 2-grams exactly only where this bound on the most covering token (count x length)
    # does not settle it: a bound below the truth would keep a repetitive text. Repeated tokens of all lengths,
    # tokens that share their first and last characters, CJK characters, in many texts at once.
    from collections import Counter

    from core.data.cleaning.steps import _TOKEN_RE, _QualityStats

    rng = random.Random(3)
    words = ["the", "tie", "three", "there", "a", "ab", "abcab", "abxab", "哈", "春", "風", "x" * 30, "Ünïcode", "٣"]
    texts = [" ".join(rng.choice(words[: rng.randint(1, len(words))]) for _ in range(rng.randint(0, 300)))
             for _ in range(500)]
    bound = _QualityStats(texts).top_token_cover
    for text, at_least in zip(texts, bound):
        counts = Counter(_TOKEN_RE.findall(text))
        assert at_least >= max((n * len(token) for token, n in counts.items()), default=0)
