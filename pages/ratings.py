"""Ratings: people judge the samples, and every score stays tied to exactly what produced the text."""

import streamlit as st

from dashboard.i18n import t

CRITERIA = ["fluency", "coherence", "style", "repetition"]

st.title(t("ratings.title"))
st.markdown(t("ratings.intro"))

st.subheader(t("ratings.rubric"))
for column, criterion in zip(st.columns(len(CRITERIA)), CRITERIA):
    with column.container(border=True):
        st.markdown(f"**{t(f'ratings.criterion.{criterion}')}**")
        st.caption(t(f"ratings.criterion.{criterion}.help"))
st.caption(t("ratings.scale"))
