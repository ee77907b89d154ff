"""English and 简体中文 are both complete, and every label the code asks for exists."""

import re
import string

from dashboard.i18n import LANGUAGES, texts
from tests.conftest import ROOT


def _fields(text):
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_languages_have_the_same_keys_and_placeholders():
    english = texts("en")
    for lang in LANGUAGES:
        other = texts(lang)
        assert set(other) == set(english), lang
        for key, text in other.items():
            assert text.strip(), (lang, key)
            assert _fields(text) == _fields(english[key]), (lang, key)


def test_every_literal_key_in_the_code_exists():
    used = set()
    for path in [*(ROOT / "dashboard").rglob("*.py"), *(ROOT / "pages").glob("*.py")]:
        used |= set(re.findall(r"""\bt\(\s*["']([\w.]+)["']""", path.read_text(encoding="utf-8")))
    assert used, "no t() calls found"
    assert used - set(texts("en")) == set()


def test_chinese_is_really_chinese():
    zh = texts("zh")
    assert all(re.search(r"[\u4e00-\u9fff]", zh[key]) for key in ["nav.data", "home.intro", "hardware.no_gpu"])
