"""The Write page's pieces: the draft picker, the editor with memory and token counts, suggestions streamed as they
are written, accept / more / dismiss (each a choice in the ratings database), undo/redo, the token view with
"branch from here", provenance and export. The logic lives in `core.write`; this module draws and wires it."""

from __future__ import annotations

import time
from dataclasses import asdict, replace

import streamlit as st

from core import models
from core.errors import UserError
from core.playground.sampling import DecodingConfig
from core.ratings import choices
from core.ratings.store import open_store
from core.write import drafts, prompt, settings, suggest
from dashboard import warm_imports
from dashboard.i18n import error_text, setting_label, t
from dashboard.playground import playground_state, playground_view
from dashboard.safe_text import md_escape

PENDING = "write.pending"  # the alternatives on screen: shown, not yet accepted or dismissed


def pick_draft(workspace) -> drafts.Draft | None:
    """The draft to write in (the last one opened, kept in the URL so a reload keeps it), or a new one."""
    saved = drafts.names(workspace)
    wanted = st.query_params.get("draft")
    left, right = st.columns([2, 1])
    with right:
        name = st.text_input(t("write.new_name"), key="write.new_name")
        if st.button(t("write.new"), key="write.new", disabled=not name.strip()):
            try:
                wanted = drafts.create(workspace, name).name
                saved = drafts.names(workspace)
            except UserError as error:
                st.error(md_escape(error_text(error)))
    if not saved:
        left.info(t("write.no_drafts"))
        return None
    index = saved.index(wanted) if wanted in saved else 0
    chosen = left.selectbox(t("write.draft"), saved, index=index, key=f"write.pick.{wanted}")
    st.query_params["draft"] = chosen
    draft = drafts.load(workspace, chosen)
    if st.session_state.get("write.loaded") != chosen:  # another draft: its text into the widgets
        st.session_state.update({"write.loaded": chosen, "write.text": draft.text, "write.memory": draft.memory})
        st.session_state.pop(PENDING, None)
    return draft


def rename(workspace, draft: drafts.Draft) -> None:
    new = st.text_input(t("write.rename_to"), key="write.rename_to")
    if st.button(t("write.rename"), key="write.rename", disabled=not new.strip()):
        try:
            drafts.rename(workspace, draft.name, new)
            st.query_params["draft"] = new.strip()
            st.session_state.pop("write.loaded", None)
            st.rerun()
        except UserError as error:
            st.error(md_escape(error_text(error)))


def pick_model(workspace, allowed: list[str] | None = None) -> str:
    """Any model of the workspace or the hub, or a typed name; a rater (`allowed`): only the owner's chosen models."""
    if allowed is not None:
        chosen = st.selectbox(t("write.model"), allowed, key="write.model")
        if chosen not in allowed:  # nothing a rater's session sends reaches another model
            st.stop()
        return chosen
    choices_ = list(dict.fromkeys([*models.local_models(workspace), *models.HUB_MODELS]))
    return st.selectbox(t("write.model"), choices_, key="write.model", accept_new_options=True)


def pick_setting(workspace, model: str) -> DecodingConfig:
    """Any saved Playground column; the model's best-rated setting first (the default) when ratings exist."""
    available = settings.available(workspace)
    best = settings.best_rated(workspace, model)
    labels = list(available)
    if best is not None:
        label = t("write.best_rated", name=setting_label(best.name))
        available = {label: best, **available}
        labels.insert(0, label)
    else:
        labels.remove(settings.FALLBACK)
        labels.insert(0, settings.FALLBACK)
    shown = {label: setting_label(label) for label in labels}  # translated now, not whenever the widget formats
    return available[st.selectbox(t("write.setting"), labels, format_func=shown.__getitem__, key=f"write.setting.{model}")]


def _save_text(workspace, name: str) -> None:
    draft = drafts.load(workspace, name)
    draft.memory = st.session_state["write.memory"]
    drafts.edit(draft, st.session_state["write.text"])
    drafts.save(workspace, draft)


def editor(workspace, draft: drafts.Draft) -> None:
    st.text_area(t("write.memory"), key="write.memory", height=70, on_change=_save_text, args=(workspace, draft.name),
                 help=t("write.memory_help"))
    st.text_area(t("write.text"), key="write.text", height=260, on_change=_save_text, args=(workspace, draft.name))


def load(model: str):
    """(tokenizer, model), or None with the reason shown: the draft keeps its text whatever the model does."""
    try:
        warm_imports.wait(t("app.warming"))
        return playground_state.model(model)
    except UserError as error:
        st.error(t("write.cannot_load", model=md_escape(model), error=md_escape(error_text(error))))
        return None


def token_counts(loaded, draft: drafts.Draft) -> None:
    tokenizer, model = loaded
    context = models.context_length(model.config) or suggest.DEFAULT_CONTEXT
    try:
        built = prompt.build(tokenizer, draft.memory, draft.text, context=context,
                             reserve=suggest.LENGTHS["paragraph"])
    except UserError as error:
        st.warning(md_escape(error_text(error)))
        return
    st.caption(t("write.tokens", memory=built.memory_tokens, draft=built.draft_tokens, context=context))
    if built.cut_chars:
        st.caption(t("write.cut", chars=built.cut_chars))


def suggest_bar(workspace, draft: drafts.Draft, model: str, config: DecodingConfig, loaded, writer: str) -> None:
    n = st.number_input(t("write.n"), 1, 8, 3, key="write.n")
    line, paragraph, more, dismiss = st.columns(4)
    pending = st.session_state.get(PENDING)
    clicked = None
    if line.button(t("write.suggest_line"), type="primary", key="write.suggest_line", disabled=loaded is None):
        clicked = ("line", 0)
    if paragraph.button(t("write.suggest_paragraph"), key="write.suggest_paragraph", disabled=loaded is None):
        clicked = ("paragraph", 0)
    if more.button(t("write.more"), key="write.more", disabled=loaded is None or not pending):
        _choose(workspace, writer, None)  # asking for more dismisses what was shown
        clicked = (pending["length"], pending["round"] + 1)
    dismiss.button(t("write.dismiss"), key="write.dismiss", disabled=not pending, on_click=_choose,
                   args=(workspace, writer, None))
    if clicked:
        _run(draft, model, config, loaded, int(n), *clicked)
        st.rerun()


def _run(draft: drafts.Draft, model: str, config: DecodingConfig, loaded, n: int, length: str, round_: int) -> None:
    """Suggest, streaming each alternative into its box as it is written (the first characters at once)."""
    tokenizer, lm = loaded
    boxes = [st.empty() for _ in range(n if config.do_sample else 1)]
    texts: dict[int, str] = {}
    drawn = [0.0]

    def on_token(row: int, piece: str) -> None:
        first = row not in texts and piece
        texts[row] = texts.get(row, "") + piece
        if first or time.monotonic() - drawn[0] > 0.1:
            drawn[0] = time.monotonic()
            for number, box in enumerate(boxes):
                box.text(f"{number + 1}. {texts.get(number, '')}")

    try:
        result = suggest.suggest(lm, tokenizer, draft.memory, draft.text, config, n=n, length=length,
                                 round_=round_, on_token=on_token)
    except UserError as error:
        st.session_state["write.problem"] = error_text(error)
        return
    source = models.resolve(model)
    st.session_state[PENDING] = {
        "draft": draft.name, "model": model, "checkpoint": source.location, "config": result.config.to_dict(),
        "prompt": result.prompt.text, "cut": result.prompt.cut_chars, "length": length, "round": round_,
        "samples": [asdict(s) for s in result.samples]}


def _choose(workspace, writer: str, number: int | None) -> None:
    """Accept alternative `number` (appended to the draft, with its provenance) or dismiss them all (None); either
    way the choice is recorded in the ratings database."""
    pending = st.session_state.pop(PENDING, None)
    if not pending:
        return
    shown = [s["text"] for s in pending["samples"]]
    config = pending["config"]
    with open_store() as store:
        choices.record_choice(store, writer=writer or "anonymous", draft=pending["draft"], context=pending["prompt"],
                              accepted=None if number is None else shown[number], shown=shown, model=pending["model"],
                              checkpoint=pending["checkpoint"], setting=config, seed=config["seed"],
                              action="dismiss" if number is None else "accept")
    if number is None:
        return
    draft = drafts.load(workspace, pending["draft"])
    sample = pending["samples"][number]
    span = drafts.Span(0, 0, model=pending["model"], checkpoint=pending["checkpoint"], setting=config["name"],
                       settings=config, seed=config["seed"], sample_index=number, sample=sample)
    drafts.accept(draft, sample["text"], span)
    drafts.save(workspace, draft)
    st.session_state["write.text"] = draft.text


def pending(workspace, writer: str) -> None:
    problem = st.session_state.pop("write.problem", None)
    if problem:
        st.error(md_escape(problem))
    shown = st.session_state.get(PENDING)
    if not shown:
        return
    if shown["cut"]:
        st.caption(t("write.cut", chars=shown["cut"]))
    for number, sample in enumerate(shown["samples"]):
        text_box, button = st.columns([6, 1])
        text_box.text(f"{number + 1}. {sample['text']}")
        button.button(t("write.accept"), key=f"write.accept.{number}", on_click=_choose,
                      args=(workspace, writer, number))


def _history(workspace, name: str, step) -> None:
    draft = step(drafts.load(workspace, name))
    drafts.save(workspace, draft)
    st.session_state["write.text"] = draft.text


def history(workspace, draft: drafts.Draft) -> None:
    undo, redo = st.columns(2)
    undo.button(t("write.undo"), key="write.undo", disabled=not draft.undo, on_click=_history,
                args=(workspace, draft.name, drafts.undo))
    redo.button(t("write.redo"), key="write.redo", disabled=not draft.redo, on_click=_history,
                args=(workspace, draft.name, drafts.redo))


def token_view(workspace, draft: drafts.Draft, loaded) -> None:
    """The last accepted span's tokens (probability shading, candidates and their top-k/top-p cut), and "branch
    from here": another candidate at a token, and the rest regenerated from there."""
    spans = [(i, s) for i, s in enumerate(draft.spans) if s.sample]
    if not spans or loaded is None:
        st.caption(t("write.no_tokens"))
        return
    index, span = spans[-1]
    sample = suggest.sample_from_dict(span.sample)
    tokenizer, lm = loaded
    step = st.number_input(t("write.token"), 0, max(0, len(sample.token_ids) - 1), 0, key="write.token")
    playground_view.token_view(sample, tokenizer, int(step))
    candidates = sample.steps[int(step)].candidates if sample.steps and step < len(sample.steps) else []
    if not candidates:
        return
    labels = {f"{c.text!r} · {c.prob:.3f}": c.token_id for c in candidates}
    st.selectbox(t("write.branch_with"), list(labels), key="write.branch_with")
    st.button(t("write.branch"), key="write.branch", on_click=_branch,
              args=(workspace, draft.name, index, int(step), labels, loaded))


def _branch(workspace, name: str, index: int, step: int, labels: dict[str, int], loaded) -> None:
    """Regenerate span `index` from token `step` with the candidate picked (a callback: it sets the editor's text)."""
    tokenizer, lm = loaded
    draft = drafts.load(workspace, name)
    span = draft.spans[index]
    sample = suggest.sample_from_dict(span.sample)
    token_id = labels[st.session_state["write.branch_with"]]
    try:
        new = suggest.branch(lm, tokenizer, draft.memory, draft.text[: span.start], sample, step, token_id,
                             DecodingConfig.from_dict(span.settings))
    except UserError as error:
        st.session_state["write.problem"] = error_text(error)
        return
    drafts.replace(draft, index, new.text, replace(span, sample=asdict(new)))
    drafts.save(workspace, draft)
    st.session_state["write.text"] = draft.text


def provenance(draft: drafts.Draft, paths: bool = True) -> None:
    """Each span's model and setting; `paths` False (a rater): without the checkpoint's folder on the server."""
    rows = [{t("write.span"): draft.text[s.start : s.end], t("write.model"): s.model,
             **({t("write.checkpoint"): s.checkpoint or ""} if paths else {}), t("write.setting"): s.setting,
             t("write.seed"): s.seed}
            for s in draft.spans]
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    else:
        st.caption(t("write.no_spans"))
    txt, md = st.columns(2)
    txt.download_button(t("write.export_txt"), drafts.export(draft, "txt"), f"{draft.name}.txt", "text/plain",
                        key="write.export_txt")
    md.download_button(t("write.export_md"), drafts.export(draft, "md"), f"{draft.name}.md", "text/markdown",
                       key="write.export_md")


def choice_results(store) -> None:
    """The Ratings results' own source for Write choices: per model and setting, how often writers took one."""
    rows = choices.summary(choices.list_choices(store))
    if not rows:
        st.caption(t("write.no_choices"))
        return
    st.dataframe([{t("write.model"): r["model"], t("write.setting"): r["setting"], t("write.shown"): r["shown"],
                   t("write.accepted"): r["accepted"], t("write.dismissed"): r["dismissed"],
                   t("write.accept_rate"): round(r["accept_rate"], 3), t("write.pairs"): r["pairs"],
                   t("write.writers"): r["writers"]} for r in rows], hide_index=True, width="stretch")
