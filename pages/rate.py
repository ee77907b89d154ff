"""A rater's page: the rating sheet and the A/B votes, blind, under the name of their identity or invitation."""

import streamlit as st

from core.ratings import rubric
from core.workspace import Workspace
from dashboard import access
from dashboard.i18n import t
from dashboard.ratings import ratings_view

rater = access.visitor().name
st.title(t("ratings.title"))
st.markdown(t("access.rater_intro"))
rate_tab, compare_tab = st.tabs([t("ratings.tab.rate"), t("ratings.tab.compare")])
with rate_tab:
    # Always blind: a rater sees the texts, never which model, run or setting made them.
    ratings_view.sheet(rater, True, rubric.load(Workspace.from_env()))
with compare_tab:
    ratings_view.compare(rater)
