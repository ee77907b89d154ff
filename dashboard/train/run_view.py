"""One run on the Train page: live while it trains (a fragment polling its files), then its outcome and what
can be done next (resume, retry after running out of memory)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from core.errors import UserError
from core.ratings.schema import SampleRecord
from core.train import gallery, runs
from core.train.state import LIVE, RESUMABLE, RunState
from dashboard import figures
from dashboard.i18n import error_text, t
from dashboard.ratings import preferences_view
from dashboard.safe_text import md_escape
from dashboard.train import export_view

POLL_SECONDS = 2
IDLE_POLL_SECONDS = 5  # an ended run is still watched, slower: a Resume in another tab shows here without a click


def render(workspace, run_dir: Path) -> None:
    status = runs.status(run_dir)
    live = status.get("alive", False) or status.get("state") in LIVE
    st.subheader(t("run.title", run=md_escape(run_dir.name)))
    preferences_view.effect_caption(workspace, run_dir)  # a preference-tuned run: its blind A/B against its parent
    st.fragment(run_every=POLL_SECONDS if live else IDLE_POLL_SECONDS)(_panel)(workspace, run_dir, live)


def _panel(workspace, run_dir: Path, was_live: bool) -> None:
    status = runs.status(run_dir)
    state = status["state"]
    if was_live and runs.ended(status):
        st.rerun()  # the run just ended: redraw the page once, then poll slowly
    if not was_live and (status.get("alive") or state in LIVE):
        st.rerun()  # resumed (here or in another tab): redraw the page once, then poll fast
    metrics, samples = runs.load_metrics(run_dir), runs.load_samples(run_dir)
    _header(run_dir, status, metrics.records)
    if state == RunState.UNREADABLE:
        st.error(t("run.unreadable", reason=md_escape(status["error"])))
    for problem in filter(None, (metrics.problem, samples.problem)):
        st.warning(t("run.unreadable_lines", reason=md_escape(problem)))
    if state == RunState.OOM:
        st.error(t("run.oom", error=md_escape(status.get("error", ""))))
        if st.button(t("run.retry_oom"), key=f"retry.{run_dir.name}", type="primary"):
            _act(lambda: st.query_params.update(run=runs.retry_after_oom(workspace, run_dir).name))
    elif state in (RunState.FAILED, RunState.CRASHED):
        st.error(t(f"run.{state}", error=md_escape(status.get("error") or "")))
        st.caption(t("run.log_caption"))
        st.code(runs.log_tail(run_dir, 30) or t("run.empty_log"), language=None)
    if state in (RunState.RUNNING, RunState.QUEUED) and not metrics.records:
        phase = status.get("phase") or "starting"  # before the worker's first status write: it is starting
        st.info(t(f"train.phase.{phase}", **(status.get("phase_counts") or {})))
    charts, gallery = st.columns([3, 2])
    with charts:
        if not metrics.records:  # an empty chart draws axes from -1: show it with its first point instead
            st.caption(t("run.charts_wait"))
            return _gallery_and_log(workspace, run_dir, samples.records, status, gallery)
        log_scale = st.toggle(t("run.log_scale"), key=f"log.{run_dir.name}")
        st.plotly_chart(figures.loss_chart({run_dir.name: metrics.records}, title=t("run.loss"), train_label=t("run.train_loss"),
                                           smooth_label=t("run.smoothed"), eval_label=t("run.eval_loss"),
                                           step_label=t("run.step_axis"), log_scale=log_scale), key=f"loss.{run_dir.name}")
        if any(m.get("bits_per_char") is not None for m in metrics.records):
            st.plotly_chart(figures.bits_chart({run_dir.name: metrics.records}, title=t("run.bits_per_char"),
                                               step_label=t("run.step_axis"), bits_label=t("run.bits_axis")),
                            key=f"bits.{run_dir.name}")
        if any(m.get("reward_margin") is not None for m in metrics.records):  # a preference-tuning run
            st.plotly_chart(figures.preference_chart(
                metrics.records, title=t("dpo.chart"), margin_label=t("dpo.margin"), eval_margin_label=t("dpo.eval_margin"),
                accuracy_label=t("dpo.eval_accuracy"), step_label=t("run.step_axis")), key=f"dpo.{run_dir.name}")
        st.plotly_chart(figures.learning_rate_chart(metrics.records, title=t("run.learning_rate"),
                                                    step_label=t("run.step_axis")), key=f"lr.{run_dir.name}")
    _gallery_and_log(workspace, run_dir, samples.records, status, gallery)


def _gallery_and_log(workspace, run_dir: Path, samples: list[SampleRecord], status: dict, column) -> None:
    with column:
        _gallery(samples, run_dir.name)
    with st.expander(t("run.log"), expanded=status.get("state") in (RunState.FAILED, RunState.CRASHED)):
        st.caption(t("run.log_caption"))  # the lines are the trainer's and its libraries' own words, kept as written
        st.code(runs.log_tail(run_dir, 40) or "…", language=None)
    if runs.ended(status):  # a model to hand over: the run is done with its checkpoints
        export_view.render(workspace, run_dir)


def _header(run_dir: Path, status: dict, metrics: list[dict]) -> None:
    state, step, total = status["state"], status.get("step", 0) or 0, status.get("max_steps") or 0
    logged = [m for m in metrics if m.get("tokens_per_s")]
    speed = logged[-1]["tokens_per_s"] if logged else None
    eta = _eta(metrics, step, total) if state == RunState.RUNNING else None
    losses = [m["loss"] for m in metrics if m.get("loss") is not None]
    a, b, e, c, d = st.columns(5)
    a.metric(t("run.state"), md_escape(t(f"state.{state}")))  # a metric's value is markdown too; these come from files
    b.metric(t("run.step"), md_escape(f"{step} / {total or '?'}"))
    # the latest loss as a number: read from metrics.jsonl, it shows before the chart's plotting library has loaded
    # in a new tab (seconds on a machine the trainer keeps busy)
    e.metric(t("run.last_loss"), f"{losses[-1]:.3f}" if losses else "–")
    c.metric(t("run.tokens_per_s"), f"{speed:,.0f}" if speed else "–")
    d.metric(t("run.eta"), _duration(eta) if eta is not None else "–")
    st.progress(min(1.0, step / total) if total else 0.0)
    if state in (RunState.RUNNING, RunState.QUEUED) and status.get("alive", True):
        if st.button(t("run.stop"), key=f"stop.{run_dir.name}"):
            _act(lambda: runs.stop(run_dir))
    elif state in RESUMABLE and (complete := runs.complete_checkpoints(run_dir)):
        names = [p.name for p in reversed(complete)]
        pick, go = st.columns([3, 1])
        checkpoint = pick.selectbox(t("run.resume_from"), names, key=f"resume.pick.{run_dir.name}")
        if go.button(t("run.resume"), key=f"resume.{run_dir.name}", type="primary"):
            _act(lambda: runs.resume(run_dir, str(run_dir / checkpoint)))
    elif state == RunState.STOPPING:
        st.info(t("run.stopping"))


def _act(action) -> None:
    try:
        action()
    except UserError as error:
        st.error(md_escape(error_text(error)))
        return
    st.rerun()


def _gallery(samples: list[SampleRecord], run: str) -> None:
    """One checkpoint's samples (the latest unless the slider says otherwise), not every checkpoint stacked."""
    st.markdown(f"**{t('run.gallery')}**")
    if not samples:
        st.caption(t("run.gallery_empty"))
        return
    steps = sorted({gallery.step(s) for s in samples})
    key = f"gallery.{run}"
    if st.session_state.get(key) not in steps or st.session_state.get(key + ".latest") == st.session_state.get(key):
        st.session_state[key] = steps[-1]  # follow the newest checkpoint until the user picks another one
    st.session_state[key + ".latest"] = steps[-1]
    step = st.select_slider(t("run.gallery_slider"), steps, key=key) if len(steps) > 1 else steps[0]
    with st.container(border=True):
        st.caption(t("run.gallery_step", step=md_escape(step)))
        for sample in (s for s in samples if gallery.step(s) == step):
            st.text(sample.prompt + sample.text)


def _eta(metrics: list[dict], step: int, total: int) -> float | None:
    timed = [m for m in metrics if m.get("time") and m.get("loss") is not None]
    if len(timed) < 2 or not total or step <= timed[0]["step"]:
        return None
    rate = (timed[-1]["time"] - timed[0]["time"]) / max(1, timed[-1]["step"] - timed[0]["step"])
    return max(0.0, (total - step) * rate)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else f"{seconds // 60}:{seconds % 60:02d}"


def just_started(run: str) -> None:
    """This session's Start made `run`: the next page run scrolls to its panel, and the form does not offer to
    queue behind it, which read as if the Start had failed."""
    st.session_state["train.just_started"] = run
    st.session_state["train.scroll_to_run"] = True


def is_just_started(shown: Path | None) -> bool:
    """`shown` is the run this session started and is still the one on show (its device is busy with it)."""
    return shown is not None and st.session_state.get("train.just_started") == shown.name


def scroll_to_panel_once() -> None:
    """Scroll the page to its top, where the run's panel is, once after Start (the click was at the form's end)."""
    if st.session_state.pop("train.scroll_to_run", False):
        st.html("<script>for (const el of [window.parent.document.scrollingElement, "
                "...window.parent.document.querySelectorAll('[data-testid=\"stMain\"], "
                "[data-testid=\"stAppViewContainer\"], section.main')]) { el && el.scrollTo(0, 0); }</script>",
                unsafe_allow_javascript=True)


def live_run(workspace, requested: str | None) -> Path | None:
    """The run to show: the one in the URL, else the newest live one (so a new tab finds a running run).
    A URL's name that is no run of this workspace (`?run=../x`) shows "no such run" and nothing of it."""
    if requested:
        try:
            return workspace.run_dir(requested)
        except UserError:
            st.error(t("run.no_such_run"))
            return None
    for run in runs.list_runs(workspace):
        if run["state"] in LIVE:
            return workspace.runs_dir / run["id"]
    return None


