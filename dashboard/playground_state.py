"""What the Playground keeps between reruns: loaded models and training-data indexes (shared, loaded once)."""

from __future__ import annotations

import streamlit as st

from core import models
from core.data import dataset
from core.evaluation.sample_stats import CorpusIndex


@st.cache_resource(max_entries=3, show_spinner=False)
def model(name: str):
    return models.load(name)


@st.cache_resource(max_entries=3, show_spinner=False)
def training_index(name: str) -> CorpusIndex | None:
    """The suffix index of a run's training texts, for the memorization flag; None for other models."""
    path = models.training_dataset(name)
    return CorpusIndex(dataset.read_texts(path)) if path else None
