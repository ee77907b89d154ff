"""Data: raw files in, a clean dataset out — load, clean with a live preview, chunk, save, manage datasets."""

import streamlit as st

from core import models
from core.data.cleaning.pipeline import PREVIEW_CHARS
from core.data.loading import LoadOptions, field_names
from core.errors import UserError
from core.workspace import Workspace
from dashboard import warm_imports
from dashboard.data import (
    chunking_view,
    cleaning_view,
    corpus_cache,
    data_form,
    folder_source,
    hf_source,
    recipe_editor,
)
from dashboard.i18n import error_text, t
from dashboard.safe_text import md_escape

workspace = Workspace.from_env()
form = data_form.draft(workspace)
data_form.keep(form)  # sources, options and recipe survive page switches and reloads
st.title(t("data.title"))
st.markdown(t("data.intro"))
load_tab, clean_tab, chunk_tab, save_tab, datasets_tab = st.tabs(
    [t("data.tab.load"), t("data.tab.clean"), t("data.tab.chunk"), t("data.tab.save"), t("data.tab.datasets")]
)

with load_tab:
    sources = {s: t(f"data.source.{s}") for s in ["sample", "upload", "folder", "hf"]}
    source = st.radio(t("data.source"), list(sources), format_func=sources.get, horizontal=True, key="data.source")
    with st.expander(t("data.options")):
        splits = {s: t(f"data.txt_split.{s}") for s in ["whole", "paragraphs", "lines"]}
        split = st.selectbox(t("data.txt_split"), list(splits), format_func=splits.get, key="data.txt_split")
        fields = st.text_input(t("data.text_fields"), key="data.text_fields", help=t("data.text_fields.help"))
        column = st.text_input(t("data.csv_column"), key="data.csv_column")
    options = LoadOptions(txt_split=split, text_fields=field_names([fields]), csv_column=column)
    options_json = corpus_cache.options_key(options)
    corpus, key = None, None
    if source == "sample":
        key = "sample"
        corpus = corpus_cache.load(key, options_json)
    elif source == "upload":
        # No type filter: a wrong file is listed with the reason, rather than refused without one.
        key, files = data_form.uploads(st.file_uploader(t("data.upload"), accept_multiple_files=True, key="data.uploads"))
        if files:
            corpus = corpus_cache.load(key, options_json, _uploads=files)
    elif source == "folder":
        key, corpus = folder_source.render(workspace, options_json)  # only under the inbox and QUILL_DATA_ROOTS
    else:
        key, corpus = hf_source.render(options_json)
    if corpus is not None:
        cleaning_view.render_files(corpus)
    data_form.reset_button(form)

if corpus is None or not corpus.documents:
    for tab in (clean_tab, chunk_tab, save_tab):
        tab.info(t("data.load_first"))
else:
    with clean_tab:
        recipe_column, preview_column = st.columns([2, 3])
        with recipe_column:
            st.subheader(t("data.recipe"))
            cleaning_view.preset_picker(recipe_editor)
            cleaning_view.recipe_files(recipe_editor)
            recipe = recipe_editor.render()
        with preview_column:
            st.subheader(t("data.preview"))
            cleaning_view.render_too_long_files(corpus, recipe)
            seed = st.number_input(t("data.sample_seed"), value=0, step=1, key="data.sample_seed")
            starter = "starter" if "starter" in models.local_models(workspace) else None
            warm_imports.wait(t("app.warming"))  # the preview counts tokens with the starter's tokenizer
            result, indices = corpus_cache.cleaning_preview(key, options_json, recipe.to_json(), starter, int(seed),
                                                            _corpus=corpus)
            st.caption(t("data.preview_sample", n=len(indices), total=len(corpus.documents), chars=PREVIEW_CHARS))
            st.dataframe(cleaning_view.step_table(result), hide_index=True, width="stretch")
            cleaning_view.render_removed_lines(result)
            cleaning_view.render_charts(result)
            originals = [corpus.documents.head(i, PREVIEW_CHARS) for i in indices]
            cleaning_view.suggest_simplified(originals, recipe)
            cleaning_view.note_lost_characters(result.texts)
            cleaning_view.render_lengths([len(o) for o in originals], [len(x) for x in result.texts])
            st.subheader(t("data.document"))
            changed_first = sorted(range(len(indices)), key=lambda k: (not result.traces[k], k))
            labels = {k: cleaning_view.document_label(result, k) for k in changed_first}
            pick = st.selectbox(t("data.pick_document"), changed_first, key="data.document", format_func=labels.get)
            cleaning_view.render_document(originals[pick], result.traces[pick])

    with chunk_tab:
        names = models.local_models(workspace) + models.HUB_MODELS
        model_name = st.selectbox(t("chunk.model"), names, key="chunk.model")
        block_size = st.select_slider(t("chunk.block_size"), [32, 64, 128, 256, 512, 1024], value=128, key="chunk.block")
        try:
            chunking_view.render(model_name, result.texts, block_size)
        except UserError as error:
            st.error(md_escape(error_text(error)))

    with save_tab:
        cleaning_view.render_save(workspace, corpus, recipe)

with datasets_tab:
    cleaning_view.render_datasets(workspace)
