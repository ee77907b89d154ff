"""The one way a user-, corpus- or model-supplied string reaches Streamlit's markdown: escaped, so it shows as text.

Streamlit renders markdown in st.markdown/caption/subheader/info/error/..., in widget, tab, expander and metric
labels, metric values, radio options and help tooltips: `![x](http://host/x.png)` there makes the browser fetch
a URL, `$x$` becomes LaTeX, `:red[x]` a colour, `:smile:` an emoji. Plain-text surfaces need none of this: st.text, st.code,
st.html of escaped HTML, dataframes, selectbox and multiselect options, input values.

Written by hand: no library escapes Streamlit's dialect (CommonMark + GFM + math + directives + shortcodes).
"""

from __future__ import annotations

import re

# What opens an inline construct anywhere in a line: code, emphasis, strikethrough, links and images (`[`), raw
# HTML and autolinks (`<`), entities (`&`), math (`$`), directives, emoji and icon shortcodes (`:`), the escape
# itself. `!` and `(` mean nothing without `[`; `#`, `|`, `=` only at the start of a line (below, and no newlines).
# An `_` inside a word cannot open or close emphasis (CommonMark's flanking rule), so HF_HUB_OFFLINE stays as is.
_INLINE = re.compile(r"[\\`*~\[\]<>&$:@]|(?<![^\W_])_|_(?![^\W_])")
# What opens a block at the start of a line: a heading, quote, list item, thematic break, ordered list.
_BLOCK_START = re.compile(r"^([#>+\-=])|^(\d+)([.)])")
# GFM autolinks (`http://x`, `www.x`, `a@b.co`) are found after parsing, in the text where backslashes are gone:
# an invisible word joiner after `:` and `@`, and between `www` and its dot, keeps them text.
_AUTOLINK = re.compile(r"(?<=\\[:@])|(?i:(?<=www)(?=\.))")
WORD_JOINER = "\u2060"


def md_escape(value: object) -> str:
    """`value` as markdown that renders as exactly its text, on one line (whitespace runs become one space)."""
    text = " ".join(str(value).split())  # a newline would start a block (heading, list, code) or break a label
    text = _INLINE.sub(lambda m: "\\" + m[0], text)
    text = _BLOCK_START.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", text)
    return _AUTOLINK.sub(WORD_JOINER, text)
