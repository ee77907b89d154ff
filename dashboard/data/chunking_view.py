"""The chunking preview: packed blocks vs one padded block per document, with block boundaries in the text."""

from __future__ import annotations

import html

import streamlit as st

from core.data.chunking import block_boundaries, pack, pad_each, token_lengths
from dashboard import figures
from dashboard.data import corpus_cache
from dashboard.i18n import t

BOUNDARY = '<span style="background:#3d6b8c;color:#fff;border-radius:3px;padding:0 4px;margin:0 2px;font-size:0.75rem">{n}</span>'
EOS_MARK = '<span style="color:#c0504d;font-size:0.75rem">⏎EOS</span>'


def render(model_name: str, texts: list[str], block_size: int, documents_shown: int = 3) -> None:
    tokenizer = corpus_cache.tokenizer(model_name)
    token_lists = corpus_cache.tokenized(model_name, texts)  # once per preview, not on every rerun of the page
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    packed, padded = pack(token_lists, block_size, eos), pad_each(token_lists, block_size, pad, eos)
    packed_col, padded_col = st.columns(2)
    for column, scheme, chunking in [(packed_col, "packed", packed), (padded_col, "padded", padded)]:
        with column.container(border=True):
            st.markdown(f"**{t(f'chunk.{scheme}')}**")
            st.caption(t(f"chunk.{scheme}.help"))
            a, b, c = st.columns(3)
            a.metric(t("chunk.blocks"), len(chunking.blocks))
            b.metric(t("chunk.padding"), f"{chunking.padding_fraction:.0%}")
            c.metric(t("chunk.lost"), f"{chunking.truncated_tokens:,}")
    st.plotly_chart(
        figures.length_histograms({t("chunk.tokens"): token_lengths(token_lists)}, title=t("chunk.lengths"),
                                  x_title=t("chunk.tokens")),
        key="token_lengths",
    )
    st.markdown(f"**{t('chunk.boundaries')}**")
    st.caption(t("chunk.boundaries.help", size=block_size))
    starts = block_boundaries(token_lists, block_size)
    shown = []
    for ids, cuts in list(zip(token_lists, starts))[:documents_shown]:
        pieces, previous = [], 0
        for cut in [*cuts, len(ids)]:
            if cut > previous:
                pieces.append(html.escape(tokenizer.decode(ids[previous:cut])))
            if cut < len(ids):
                pieces.append(BOUNDARY.format(n="▌"))
            previous = cut
        shown.append("".join(pieces) + EOS_MARK)
    st.html('<div style="white-space:pre-wrap;font-size:0.9rem;line-height:1.6">' + "".join(shown) + "</div>")
