"""Playground: one prompt under several decoding settings, side by side, for any model the lab knows."""

import streamlit as st

from core.models import HUB_MODELS, local_models
from core.workspace import Workspace
from dashboard.i18n import t

st.title(t("playground.title"))
st.markdown(t("playground.intro"))

local, hub = st.columns(2)
with local:
    st.subheader(t("playground.local_models"))
    names = local_models(Workspace.from_env())
    if names:
        st.markdown("\n".join(f"- `{name}`" for name in names))
    else:
        st.info(t("playground.no_local_models"))
with hub:
    st.subheader(t("playground.hub_models"))
    st.markdown("\n".join(f"- `{name}`" for name in HUB_MODELS))
    st.caption(t("playground.hub_help"))
