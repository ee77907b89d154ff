"""What the Data page keeps between reruns: the loaded corpus and tokenizers (shared objects, never copied)
and previews (small, keyed by the recipe). Keys are cheap strings, so a 100 MB corpus is never re-hashed."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import streamlit as st

from core import models
from core.data.chunking import tokenize_documents
from core.data.cleaning.pipeline import preview
from core.data.cleaning.recipe import Recipe
from core.data.corpus import sample_files
from core.data.loading import LoadOptions, LoadResult, load_bytes, load_paths
from dashboard import warm_imports


@st.cache_resource(max_entries=3, show_spinner=False)
def load(key: str, options_json: str, _uploads: list[tuple[str, bytes]] | None = None,
         _folder: str | None = None, _roots: list[Path] | None = None, _hf: str | None = None) -> LoadResult:
    """`key` names what is loaded ("sample", the upload ids, or the folder); the payload itself is not hashed.
    A folder is read only under `_roots` (the workspace's data roots); the sample corpus is the lab's own."""
    options = LoadOptions(**json.loads(options_json))
    if _uploads is not None:
        merged = LoadResult()
        for name, data in _uploads:
            merged.extend(load_bytes(name, data, options))  # takes each file's texts over, never a Document each
        return merged
    if _folder:
        return load_paths([_folder], options, allowed_roots=_roots or [])
    if _hf:
        # lazy: charset_normalizer takes ~20 ms to import, and only this path needs it
        from core.data import hf_datasets

        return hf_datasets.load_spec(_hf, options, local=False)  # a hub id only: the server reads no path here
    return load_paths(sample_files(), options, allowed_roots=None)


def options_key(options: LoadOptions) -> str:
    return json.dumps(asdict(options), sort_keys=True)


@st.cache_resource(max_entries=4, show_spinner=False)
def tokenizer(model_name: str):
    warm_imports.warm()  # transformers: imported by the server's one background thread
    return models.load_tokenizer(model_name, confined=True)


@st.cache_data(max_entries=8, show_spinner=False)
def tokenized(model_name: str, texts: list[str]) -> list[list[int]]:
    """The preview's documents as token ids (the chunking tab): the texts are a preview's sample, cheap to hash."""
    return tokenize_documents(tokenizer(model_name), texts)


@st.cache_data(max_entries=32, show_spinner=False)
def cleaning_preview(corpus_key: str, options_json: str, recipe_json: str, tokenizer_name: str | None, seed: int,
                     _corpus: LoadResult):
    # Views of the corpus, not lists of it: the preview keeps only the documents it samples.
    result, indices = preview(Recipe.from_json(recipe_json), _corpus.texts, _corpus.sources,
                              tokenizer=tokenizer(tokenizer_name) if tokenizer_name else None, seed=seed)
    return result, indices
