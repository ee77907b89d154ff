"""What the Playground keeps between reruns: loaded models and training-data indexes (shared, loaded once)."""

from __future__ import annotations

import streamlit as st

from core import models
from core.evaluation import memorization
from core.evaluation.memorization import CorpusIndex


@st.cache_resource(max_entries=3, show_spinner=False)
def model(name: str):
    return models.load(name)


@st.cache_resource(max_entries=3, show_spinner=False)
def training_index(name: str) -> CorpusIndex | None:
    """The memorization index of a run's training data (built once, memory-mapped); None for other models."""
    path = models.training_dataset(name)
    return memorization.open_index(path) if path else None
