"""What the Playground keeps between reruns: loaded models and training-data indexes (shared, loaded once)."""

from __future__ import annotations

import streamlit as st

from core import models
from core.evaluation import memorization
from core.evaluation.memorization import CorpusIndex
from dashboard import warm_imports


@st.cache_resource(max_entries=3, show_spinner=False)
def model(name: str):
    warm_imports.warm()  # torch and transformers: imported by the server's one background thread
    return models.load(name, confined=True)  # a page's name: only what the lab may read (an adapter's base too)


@st.cache_resource(max_entries=3, show_spinner=False)
def training_index(name: str) -> tuple[str | None, CorpusIndex | None]:
    """(the dataset, its memorization index: built once, memory-mapped) a run's model was trained on; (None, None)
    for other models. The shape `core.playground.grid.generate_grid` takes as `memorization`."""
    path = models.training_dataset(name)
    return (str(path), memorization.open_index(path)) if path else (None, None)
