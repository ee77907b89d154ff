"""Ratings: people judge the samples, and every score stays tied to exactly what produced the text."""

import streamlit as st

from core.errors import UserError
from core.ratings import rubric
from core.ratings.store import open_store
from core.workspace import Workspace
from dashboard import access
from dashboard.i18n import error_text, t
from dashboard.ratings import preferences_view, ratings_view
from dashboard.safe_text import md_escape
from dashboard.write import write_view

workspace = Workspace.from_env()
st.title(t("ratings.title"))
st.markdown(t("ratings.intro"))

rater = access.visitor().name  # signed in: the identity's name, never typed
if not rater:
    rater = st.text_input(t("ratings.rater"), st.query_params.get("rater", ""), key="ratings.rater").strip()
    if rater:
        st.query_params["rater"] = rater  # a reload keeps who is rating
try:
    store = open_store()
except UserError as error:  # a database that cannot be opened, or does not answer: said in a box, not a traceback
    st.error(md_escape(error_text(error)))
    st.stop()
try:
    # A tab switch reruns the page: Results then counts the scores and votes the sheet's fragments just stored.
    rate_tab, compare_tab, results_tab, prefs_tab = st.tabs(
        [t("ratings.tab.rate"), t("ratings.tab.compare"), t("ratings.tab.results"), t("prefs.tab")],
        key="ratings.tabs", on_change="rerun")
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
        st.subheader(t("raters.title"))
        ratings_view.raters_panel(store)
        ratings_view.results(store)
        st.subheader(t("write.choices"))  # the Write page's accepts and dismissals: a source of their own
        write_view.choice_results(store)
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
except UserError as error:
    st.error(md_escape(error_text(error)))
finally:
    store.close()
