"""Ratings: people judge the samples, and every score stays tied to exactly what produced the text."""

import streamlit as st

from core.ratings import rubric
from core.ratings.store import open_store
from core.workspace import Workspace
from dashboard import preferences_view, ratings_view
from dashboard.i18n import t

workspace = Workspace.from_env()
st.title(t("ratings.title"))
st.markdown(t("ratings.intro"))

rater = st.text_input(t("ratings.rater"), st.query_params.get("rater", ""), key="ratings.rater").strip()
if rater:
    st.query_params["rater"] = rater  # a reload keeps who is rating
store = open_store()
try:
    rate_tab, compare_tab, results_tab, prefs_tab = st.tabs([t("ratings.tab.rate"), t("ratings.tab.compare"),
                                                             t("ratings.tab.results"), t("prefs.tab")])
    with rate_tab:
        if not rater:
            st.info(t("ratings.who"))
        elif store.count_samples() == 0:
            st.info(t("ratings.empty"))
        else:
            ratings_view.sheet(rater, st.toggle(t("ratings.blind"), key="ratings.blind"), rubric.load(workspace))
    with compare_tab:
        if rater:
            ratings_view.compare(rater)
        else:
            st.info(t("ratings.who"))
    with results_tab:
        ratings_view.results(store)
        ratings_view.downloads(store)
        st.subheader(t("ratings.diversity"))
        ratings_view.diversity(store)
        st.subheader(t("ratings.perplexity"))
        ratings_view.perplexity_table(workspace)
    with prefs_tab:
        st.subheader(t("prefs.pairs"))
        preferences_view.pairs_table(store)
        st.subheader(t("prefs.effect"))
        preferences_view.tuned_vs_parent(workspace)
        st.subheader(t("prefs.best_of"))
        preferences_view.best_of_form(store, workspace)
        st.subheader(t("prefs.arena"))
        preferences_view.arena(workspace, rater)
    with st.expander(t("ratings.gallery")):
        ratings_view.import_gallery(store, workspace)
    with st.expander(t("ratings.rubric")):
        ratings_view.edit_rubric(workspace)
finally:
    store.close()
