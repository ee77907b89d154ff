"""core.text is the one home of the CJK character classes."""

from __future__ import annotations

from core.text import is_chinese, is_cjk, is_han


def test_han_and_cjk_classes():
    assert is_han("汉") and is_han("\u3400") and is_han("\U00030000")  # extension A and G count too
    assert not is_han("か") and not is_han("。") and not is_han("a")
    assert is_cjk("か") and is_cjk("。") and is_cjk("한") and is_cjk("，") and not is_cjk("a")
    assert is_chinese("床前明月光 moon") and not is_chinese("the moon 月")
