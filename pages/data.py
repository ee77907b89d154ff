"""Data: from raw files to a clean dataset. Starts with what there is to clean: the sample corpus and saved datasets."""

import pandas as pd
import streamlit as st

from core.corpus import manifest
from core.workspace import Workspace
from dashboard.i18n import t

st.title(t("data.title"))
st.markdown(t("data.intro"))

st.subheader(t("data.sample_corpus"))
st.caption(t("data.sample_corpus_help"))
st.dataframe(
    pd.DataFrame(
        [
            {
                t("data.col.file"): entry["file"],
                t("data.col.language"): entry["language"],
                t("data.col.format"): entry["format"],
                t("data.col.encoding"): entry["encoding"],
                t("data.col.documents"): entry["documents"],
                t("data.col.planted"): ", ".join(p.split(":")[0] for p in entry.get("planted", [])),
            }
            for entry in manifest()
        ]
    ),
    hide_index=True,
    width="stretch",
)

st.subheader(t("data.datasets"))
datasets = Workspace.from_env().datasets()
if datasets:
    st.dataframe(pd.DataFrame({t("data.col.name"): [d.name for d in datasets]}), hide_index=True)
else:
    st.info(t("data.no_datasets"))
