"""How the Data page shows a cleaning preview: the per-step table and charts, and one document before and after."""

from __future__ import annotations

import difflib
import html

import pandas as pd
import streamlit as st

from core.data import dataset
from core.data.book import MAX_DOCUMENT_CHARS
from core.data.cleaning.losses import too_long_files
from core.data.cleaning.outcome import Dropped
from core.data.cleaning.pipeline import CleanResult, Event
from core.data.cleaning.recipe import PRESETS, Recipe
from core.errors import UserError
from core.hardware import format_bytes
from dashboard import figures
from dashboard.data import datamap_view
from dashboard.i18n import current_language, error_text, t
from dashboard.safe_text import md_escape

DIFF_CHARS = 4_000  # character diffs are quadratic at worst: longer texts are shown without highlights


def reason_text(dropped: Dropped) -> str:
    if current_language() == "en":
        return dropped.message
    details = "，".join(f"{k}={v}" for k, v in dropped.values.items())
    label = t(f"reason.{dropped.code}")
    return f"{label}（{details}）" if details else label


def step_table(result: CleanResult) -> pd.DataFrame:
    rows = []
    for step in result.steps:
        rows.append({
            t("preview.col.step"): t(f"step.{step.name}"),
            t("preview.col.docs"): f"{step.docs_in} → {step.docs_out}",
            t("preview.col.chars"): f"{step.chars_in:,} → {step.chars_out:,}",
            t("preview.col.tokens"): f"{step.tokens_in:,} → {step.tokens_out:,}" if step.tokens_in is not None else "",
            t("preview.col.changed"): step.changed,
            t("preview.col.dropped"): ", ".join(f"{t(f'reason.{code}')} {n}" for code, n in step.dropped.items()),
        })
    return pd.DataFrame(rows)


def report_table(steps: list[dict]) -> pd.DataFrame:
    """A saved dataset's report.json steps, labelled like the live preview's table (not as step and column ids)."""
    def count(step: dict, field: str) -> str:  # a report is a file: a missing or odd field shows as it is
        value = step.get(field, "")
        return f"{value:,}" if isinstance(value, int) else str(value)

    return pd.DataFrame([{
        t("preview.col.step"): t(f"step.{step.get('name')}"),
        t("preview.col.docs"): f"{count(step, 'docs_in')} → {count(step, 'docs_out')}",
        t("preview.col.chars"): f"{count(step, 'chars_in')} → {count(step, 'chars_out')}",
    } for step in steps])


def render_removed_lines(result: CleanResult) -> None:
    """Each line the boilerplate step removed, with the number of documents it was removed from."""
    removed = {line: n for step in result.steps for line, n in step.removed_lines.items()}
    if removed:
        st.caption(t("preview.boilerplate"))
        table = {t("preview.col.line"): list(removed), t("preview.col.documents"): list(removed.values())}
        st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch")


def render_charts(result: CleanResult) -> None:
    names = [t(f"step.{s.name}") for s in result.steps]
    docs, chars = st.columns(2)
    docs.plotly_chart(
        figures.step_waterfall(names, result.docs_in, [s.docs_out - s.docs_in for s in result.steps],
                               title=t("preview.waterfall_docs"), start_label=t("preview.input"), end_label=t("preview.output")),
        key="waterfall_docs",
    )
    chars.plotly_chart(
        figures.step_waterfall(names, result.chars_in, [s.chars_out - s.chars_in for s in result.steps],
                               title=t("preview.waterfall_chars"), start_label=t("preview.input"), end_label=t("preview.output")),
        key="waterfall_chars",
    )


def render_lengths(before: list[int], after: list[int]) -> None:
    st.plotly_chart(
        figures.length_histograms({t("preview.before"): before, t("preview.after"): after},
                                  title=t("preview.lengths"), x_title=t("preview.chars")),
        key="lengths",
    )


def render_document(original: str, events: list[Event]) -> None:
    """Before and after side by side, removed spans struck out, added spans marked; then each step's effect."""
    final = original
    for event in events:
        final = event.after if event.dropped is None else None
    before_html, after_html = highlight(original, final or "")
    left, right = st.columns(2)
    left.caption(t("preview.before"))
    left.html(_box(before_html))
    right.caption(t("preview.after"))
    if final is None:
        right.error(t("preview.dropped_by", step=t(f"step.{events[-1].step}"),
                      reason=md_escape(reason_text(events[-1].dropped))))
    else:
        right.html(_box(after_html))
    if not events:
        st.caption(t("preview.untouched"))
    for event in events:
        if event.dropped:
            reason = md_escape(reason_text(event.dropped))
            st.markdown(f"- **{t(f'step.{event.step}')}** · {t('preview.dropped')}: {reason}")
        else:
            delta = len(event.after) - len(event.before)
            st.markdown(f"- **{t(f'step.{event.step}')}** · {t('preview.changed', delta=f'{delta:+,}')}")


def highlight(before: str, after: str) -> tuple[str, str]:
    """Escaped HTML of both texts: what was removed marked in the first, what was added in the second.

    User text is always escaped here, so markup in a corpus shows as text and never runs.
    """
    if len(before) > DIFF_CHARS or len(after) > DIFF_CHARS:
        return html.escape(before), html.escape(after)
    left, right = [], []
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        old, new = html.escape(before[i1:i2]), html.escape(after[j1:j2])
        if op == "equal":
            left.append(old)
            right.append(new)
        else:
            if old:
                left.append(f'<del style="background:#f6d5d3;text-decoration-color:#c0504d">{old}</del>')
            if new:
                right.append(f'<ins style="background:#d7ecd9;text-decoration:none">{new}</ins>')
    return "".join(left), "".join(right)


def _box(inner: str) -> str:
    return (
        '<div style="white-space:pre-wrap;font-size:0.9rem;line-height:1.5;max-height:420px;overflow:auto;'
        f'border:1px solid #e0ddd5;border-radius:6px;padding:0.6rem;background:#fff">{inner}</div>'
    )


def render_files(corpus) -> None:
    """One row per file: format, detected encoding, the fields it was read from, documents, characters, the start of
    its first document, or why it was skipped; then the first documents of a chosen file."""
    ok = [f for f in corpus.files if not f.error]
    st.caption(t("data.loaded", files=len(ok), docs=len(corpus.documents),
                 chars=sum(f.chars for f in ok), skipped=len(corpus.files) - len(ok)))
    st.dataframe(
        pd.DataFrame([
            {
                t("data.col.file"): f.name,
                t("data.col.format"): f.format or "",
                t("data.col.encoding"): f.encoding or "",
                t("data.col.read_fields"): ", ".join(f.read_fields),
                t("data.col.documents"): f.documents,
                t("data.col.chars"): f.chars,
                t("data.col.first_document"): " ⏎ ".join(f.preview[0].splitlines())[:80] if f.preview else "",
                t("data.col.problem"): f.error or "",
                t("data.col.note"): " · ".join(filter(None, [f.warning, cut_text(f.cut)])),
            }
            for f in corpus.files
        ]),
        hide_index=True, width="stretch",
    )
    if not corpus.documents:
        st.warning(t("data.nothing_loaded"))
        return
    with st.expander(t("data.file_preview")):
        names = [f.name for f in ok]
        chosen = st.selectbox(t("data.col.file"), names, key="data.preview_file")
        for text in next((f.preview for f in ok if f.name == chosen), []):
            st.text(text)  # as text: corpus strings are never markdown


def cut_text(cut: dict | None) -> str:
    """How a long file was cut into documents (core.data.book), in the page's language."""
    if not cut:
        return ""
    if cut["heading"] is None:
        return t("data.cut.paragraphs", documents=cut["documents"], max=f"{MAX_DOCUMENT_CHARS:,}")
    return t("data.cut.chapters", chapters=cut["chapters"], heading=cut["heading"], documents=cut["documents"])


def render_too_long_files(corpus, recipe: Recipe) -> None:
    """Files the full run will drop whole for their length: the preview, which cleans the start of each document,
    cannot show it."""
    for name, chars, limit in too_long_files(corpus.files, recipe):
        st.warning(t("preview.too_long_file", name=md_escape(name), chars=f"{chars:,}", max=f"{limit:,}"))


def loss_lines(lost) -> list[str]:
    """A serious loss (core.data.cleaning.losses) in the page's language: what went, then each step's rule and remedy."""
    lines = []
    if lost.nothing_left:
        lines.append(t("save.lost.all"))
    elif lost.most_chars_lost:
        lines.append(t("save.lost.most", chars_in=f"{lost.chars_in:,}", chars_out=f"{lost.chars_out:,}"))
    if lost.files_dropped and not lost.nothing_left:
        lines.append(t("save.lost.files", files=", ".join(map(md_escape, lost.files_dropped[:5]))))
    for loss in lost.losses[:3]:
        rule = t(f"loss.rule.{loss.code}", **loss.shown_values())
        lines.append(t("loss.line", step=t(f"step.{loss.step}"), documents=f"{loss.documents:,}", of=f"{loss.of:,}",
                       rule=md_escape(rule), remedy=t(f"loss.remedy.{loss.code}")))
    return lines


def preset_picker(editor) -> None:
    """A select above the recipe: choosing a kind of text puts its preset into the recipe editor."""
    st.selectbox(t("recipe.preset"), list(PRESETS), index=None, key="recipe.preset",
                 format_func=lambda name: t(f"preset.{name}"), placeholder=t("recipe.preset.placeholder"),
                 on_change=_apply_preset, args=(editor,))


def _apply_preset(editor) -> None:
    # A callback runs before the widgets are drawn, so it may write their values.
    name = st.session_state.get("recipe.preset")
    editor.apply(Recipe.preset(name) if name else Recipe.default())


def _reset(editor) -> None:
    editor.apply(Recipe.default())
    st.session_state["recipe.preset"] = None


def recipe_files(editor) -> None:
    """Download the recipe as JSON, load one, or go back to the default."""
    download, reset = st.columns(2)
    download.download_button(t("recipe.download"), editor.current_recipe().to_json(), "recipe.json",
                             "application/json", key="recipe.download")
    reset.button(t("recipe.reset"), key="recipe.reset", on_click=_reset, args=(editor,))
    uploaded = st.file_uploader(t("recipe.upload"), type=["json"], key="recipe.upload")
    if uploaded is not None and st.session_state.get("recipe.applied") != uploaded.file_id:
        try:
            editor.apply(Recipe.from_json(uploaded.getvalue().decode("utf-8", errors="replace")))
            st.session_state["recipe.applied"] = uploaded.file_id
            st.rerun()
        except UserError as error:
            st.error(t("recipe.bad", error=md_escape(error_text(error))))


def document_label(result: CleanResult, k: int) -> str:
    events = result.traces[k]
    if not events:
        state = t("preview.untouched_short")
    elif events[-1].dropped:
        state = t("preview.dropped_short", step=t(f"step.{events[-1].step}"))
    else:
        state = t("preview.changed_short", n=len(events))
    return f"{result_source(result, k)} · {state}"


def result_source(result: CleanResult, k: int) -> str:
    return result.sample_sources[k] if result.sample_sources else f"#{k}"


def render_datasets(workspace) -> None:
    """The saved datasets: sizes, open one (its report and first documents), delete one."""
    saved = dataset.list_datasets(workspace)
    if not saved:
        st.info(t("data.no_datasets"))
        return
    st.dataframe(
        pd.DataFrame([
            {
                t("data.col.name"): d.name,
                t("datasets.train"): d.documents,
                t("datasets.validation"): d.validation_documents,
                t("data.col.chars"): d.chars,
                t("datasets.size"): format_bytes(d.bytes),
                t("datasets.created"): d.created,
            }
            for d in saved
        ]),
        hide_index=True, width="stretch",
    )
    chosen = st.selectbox(t("datasets.open"), [d.name for d in saved], key="datasets.open")
    info = next(d for d in saved if d.name == chosen)
    report = dataset.read_report(info.path)
    st.caption(t("datasets.path", path=md_escape(info.path)))
    if report.get("steps"):
        st.dataframe(report_table(report["steps"]), hide_index=True)
    for i, text in enumerate(dataset.read_texts(info.path)[:5]):
        with st.expander(f"#{i} · {md_escape(text[:60])}"):
            st.text(text[:5000])
    datamap_view.render(workspace, chosen)
    confirm = st.checkbox(t("datasets.confirm_delete", name=md_escape(chosen)), key=f"datasets.confirm.{chosen}")
    if st.button(t("datasets.delete"), disabled=not confirm, key="datasets.delete"):
        try:
            dataset.delete(workspace, chosen)
            st.rerun()
        except UserError as error:
            st.error(md_escape(error_text(error)))


def _dataset_name(name: str) -> str:
    """core's name check, its error said in the page's language."""
    try:
        return dataset.check_name(name)
    except UserError:
        raise UserError(t("save.bad_name", name=md_escape((name or "").strip()))) from None


def suggest_simplified(originals: list[str], recipe: Recipe) -> None:
    """Mostly traditional characters in the sample and traditional → simplified off: say so (the verse preset
    leaves it off, and 全唐诗/宋诗 are traditional)."""
    # lazy: numpy takes ~70 ms to import, and only this path needs it
    from core.data.cleaning.steps import traditional_share

    convert = next((s for s in recipe.steps if s.name == "convert_chinese"), None)
    if convert is not None and convert.enabled:
        return
    share = traditional_share(originals)
    if share >= 0.1:
        st.info(t("recipe.suggest_t2s", share=round(100 * share)))


def note_lost_characters(texts: list[str]) -> None:
    """Lines with □ (a lost character's placeholder) are kept by the filter: say how many, and how to drop them."""
    # lazy: numpy takes ~70 ms to import, and only this path needs it
    from core.data.cleaning.steps import count_lost_lines

    lines = count_lost_lines(texts)
    if lines:
        st.caption(t("recipe.lost_lines", n=lines))


def render_save(workspace, corpus, recipe: Recipe) -> None:
    """The Save tab: name, split and the button; the build is core's, the same as `python -m core clean`."""
    # lazy: numpy, charset_normalizer take ~80 ms to import, and only this path needs them
    from core.data.build import Lost, NothingLeft, build_dataset

    name = st.text_input(t("save.name"), key="save.name", placeholder=t("save.name.placeholder"))
    ratio = st.slider(t("save.ratio"), 0.02, 0.5, 0.1, 0.01, key="save.ratio")
    split_seed = st.number_input(t("save.seed"), value=0, step=1, key="save.seed")
    overwrite = st.checkbox(t("save.overwrite"), key="save.overwrite")
    lost = st.session_state.get("save.lost")  # the last refused save's losses: asked about before saving again
    if lost:
        st.warning("  \n".join([t("save.lost"), *lost]))
        st.checkbox(t("save.accept_losses"), key="save.accept")
    if not st.button(t("save.button"), type="primary", key="save.button"):
        return
    try:
        out = workspace.datasets_dir / _dataset_name(name)
        if out.exists() and not overwrite:
            raise UserError(t("save.exists", name=md_escape(name)))
        bar = st.progress(0.0, text=t("save.running"))
        built = build_dataset(corpus.documents, corpus.files, recipe, out, ratio=ratio, seed=int(split_seed),
                              overwrite=overwrite, on_progress=lambda f, step: bar.progress(f, text=t(f"step.{step}")),
                              accept_losses=bool(lost and st.session_state.get("save.accept")))
        bar.empty()  # done: no step's bar ("Near duplicates") is left standing under the result
    except NothingLeft as error:
        st.error("  \n".join([t("save.nothing_left"), *loss_lines(error.lost)]))
        st.dataframe(step_table(error.result), hide_index=True, width="stretch")
    except Lost as error:
        st.session_state["save.lost"] = loss_lines(error.lost)
        st.rerun()
    except UserError as error:
        st.error(md_escape(error_text(error)))
    else:
        st.session_state.pop("save.lost", None)
        st.dataframe(step_table(built.result), hide_index=True, width="stretch")
        done = t("save.done", name=md_escape(name), train=built.saved["train_documents"],
                 validation=built.saved["validation_documents"], by=t(f"save.by.{built.saved['by']}"))
        if built.lost.serious:  # accepted: the message still says what went
            st.warning("  \n".join([done, *loss_lines(built.lost)]))
        else:
            st.success(done)
