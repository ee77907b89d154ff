"""Plotly figure builders: pure functions from numbers to a figure, testable without Streamlit."""

from __future__ import annotations

import html

import plotly.graph_objects as go

from core.train.state import RunState

CALM = dict(template="plotly_white", margin=dict(l=10, r=10, t=40, b=10), height=320)


def plot_text(value: object) -> str:
    """A user-supplied string (a setting, model, run or group name) as plotly shows it: plotly renders titles, tick
    labels, legends and hover as a subset of HTML (`<a href>` becomes a working link), and decodes entities, so
    escaped text shows as exactly what was typed."""
    return html.escape(str(value), quote=False)


def step_waterfall(names: list[str], start: int, deltas: list[int], *, title: str, start_label: str,
                   end_label: str) -> go.Figure:
    """What each cleaning step added or removed (documents or characters), from the input to the result."""
    figure = go.Figure(
        go.Waterfall(
            x=[start_label, *names, end_label],
            y=[start, *deltas, 0],
            measure=["absolute", *["relative"] * len(deltas), "total"],
            decreasing=dict(marker=dict(color="#c0504d")),
            increasing=dict(marker=dict(color="#4f81bd")),
            totals=dict(marker=dict(color="#3d6b8c")),
            connector=dict(line=dict(color="#bbbbbb")),
        )
    )
    figure.update_layout(title=title, showlegend=False, **CALM)
    return figure


def length_histograms(series: dict[str, list[int]], *, title: str, x_title: str) -> go.Figure:
    """Overlaid histograms of lengths, e.g. {"before": [...], "after": [...]}."""
    figure = go.Figure([go.Histogram(x=values, name=plot_text(name), opacity=0.6, nbinsx=40)
                        for name, values in series.items()])
    figure.update_layout(title=title, barmode="overlay", xaxis_title=x_title, yaxis_title="", **CALM)
    return figure


def value_histogram(values: list[float], *, title: str, x_title: str) -> go.Figure:
    """One histogram of values (the data map's bits per character): the outliers are its right tail."""
    figure = go.Figure(go.Histogram(x=values, nbinsx=40))
    figure.update_layout(title=title, xaxis_title=x_title, height=280, margin={"t": 40, "b": 40}, showlegend=False)
    return figure


def smoothed(values: list[float], weight: float = 0.6) -> list[float]:
    """An exponential moving average, as TensorBoard smooths a noisy training loss (debiased at the start; its default
    weight 0.6: a run logs a point every few steps, and a heavier weight lags a falling loss by tens of steps)."""
    out, average = [], 0.0
    for i, value in enumerate(values, start=1):
        average = weight * average + (1 - weight) * value
        out.append(average / (1 - weight**i))
    return out


def loss_chart(runs: dict[str, list[dict]], *, title: str, train_label: str, smooth_label: str, eval_label: str,
               step_label: str, log_scale: bool = False) -> go.Figure:
    """Training loss (raw, faint, and smoothed) and evaluation loss against the step, for one run or several."""
    figure = go.Figure()
    several = len(runs) > 1
    for name, metrics in runs.items():
        train = [m for m in metrics if m.get("loss") is not None]
        evals = [m for m in metrics if m.get("eval_loss") is not None]
        prefix = f"{plot_text(name)} · " if several else ""
        steps, losses = [m["step"] for m in train], [m["loss"] for m in train]
        if not several:
            figure.add_trace(go.Scatter(x=steps, y=losses, name=train_label, mode="lines",
                                        line=dict(color="#9bb7cc", width=1)))
        figure.add_trace(go.Scatter(x=steps, y=smoothed(losses), name=prefix + smooth_label,
                                    mode="lines" if len(steps) > 1 else "markers",  # the first step: a visible point
                                    line=dict(width=2)))
        figure.add_trace(go.Scatter(x=[m["step"] for m in evals], y=[m["eval_loss"] for m in evals],
                                    name=prefix + eval_label, mode="lines+markers", line=dict(dash="dot")))
    figure.update_layout(title=title, xaxis_title=step_label, yaxis_type="log" if log_scale else "linear", **CALM)
    return figure


def bits_chart(runs: dict[str, list[dict]], *, title: str, step_label: str, bits_label: str) -> go.Figure:
    """Validation bits per character against the step, one line per run: comparable whatever each run's tokenizer."""
    figure = go.Figure()
    for name, metrics in runs.items():
        rows = [m for m in metrics if m.get("bits_per_char") is not None]
        figure.add_trace(go.Scatter(x=[m["step"] for m in rows], y=[m["bits_per_char"] for m in rows], name=name,
                                    mode="lines+markers"))
    figure.update_layout(title=title, xaxis_title=step_label, yaxis_title=bits_label, **{**CALM, "height": 260})
    return figure


def preference_chart(metrics: list[dict], *, title: str, margin_label: str, eval_margin_label: str,
                     accuracy_label: str, step_label: str) -> go.Figure:
    """A preference-tuning run (core.train.dpo): the reward margin (chosen over rejected) on the training pairs,
    smoothed, and on the held-out pairs, with the held-out accuracy (share of pairs the model ranks right, 0-1) on a
    second axis."""
    train = [m for m in metrics if m.get("reward_margin") is not None]
    held = [m for m in metrics if m.get("eval_reward_margin") is not None]
    figure = go.Figure()
    figure.add_trace(go.Scatter(x=[m["step"] for m in train], y=smoothed([m["reward_margin"] for m in train]),
                                name=margin_label, mode="lines", line=dict(width=2)))
    figure.add_trace(go.Scatter(x=[m["step"] for m in held], y=[m["eval_reward_margin"] for m in held],
                                name=eval_margin_label, mode="lines+markers", line=dict(dash="dot")))
    figure.add_trace(go.Scatter(x=[m["step"] for m in held], y=[m.get("eval_reward_accuracy") for m in held],
                                name=accuracy_label, mode="lines+markers", yaxis="y2"))
    figure.update_layout(title=title, xaxis_title=step_label, yaxis2=dict(overlaying="y", side="right", range=[0, 1.05]),
                         **CALM)
    return figure


def learning_rate_chart(metrics: list[dict], *, title: str, step_label: str) -> go.Figure:
    rows = [m for m in metrics if m.get("learning_rate") is not None]
    figure = go.Figure(go.Scatter(x=[m["step"] for m in rows], y=[m["learning_rate"] for m in rows], mode="lines",
                                  line=dict(color="#3d6b8c")))
    figure.update_layout(title=title, xaxis_title=step_label, **{**CALM, "height": 220})
    figure.update_yaxes(tickformat="~e")  # 2e-4, as the form says it; the SI default reads "200μ"
    return figure


# ---- sweeps (issue 14) ----------------------------------------------------------------------------------------

def sweep_parallel(trials: list[dict], axes: list[str], *, loss_label: str) -> go.Figure:
    """Parallel coordinates: each finished trial a line through its parameters to its best validation loss."""
    done = [t for t in trials if t.get("best_eval_loss") is not None]
    dims = [dict(label=name, values=[float(t["params"][name]) for t in done]) for name in axes]
    losses = [t["best_eval_loss"] for t in done]
    dims.append(dict(label=loss_label, values=losses))
    figure = go.Figure(go.Parcoords(line=dict(color=losses, colorscale="Viridis_r", showscale=True), dimensions=dims))
    figure.update_layout(**CALM)
    return figure


def sweep_curves(curves: dict[str, list[dict]], states: dict[str, str], *, title: str, eval_label: str,
                 step_label: str) -> go.Figure:
    """Every trial's validation loss against the step; pruned trials dashed."""
    figure = go.Figure()
    for run, metrics in curves.items():
        evals = [m for m in metrics if m.get("eval_loss") is not None]
        figure.add_trace(go.Scatter(x=[m["step"] for m in evals], y=[m["eval_loss"] for m in evals], name=plot_text(run),
                                    mode="lines+markers",
                                    line=dict(dash="dash" if states.get(run) == RunState.PRUNED else "solid")))
    figure.update_layout(title=title, xaxis_title=step_label, yaxis_title=eval_label, **CALM)
    return figure


def mean_ci_chart(groups: list[str], series: dict[str, list[tuple[float | None, float | None, float | None]]], *,
                  title: str, x_title: str, scale: tuple[float, float] = (1, 5)) -> go.Figure:
    """Dot-and-whisker: per group (a row) one dot per series (a criterion) at its mean, whiskers to its interval.

    `series` maps a label to one (mean, low, high) per group; a None interval draws the dot alone.
    """
    figure = go.Figure()
    for offset, (name, values) in enumerate(series.items()):
        means = [v[0] for v in values]
        figure.add_trace(go.Scatter(
            x=means, y=[plot_text(g) for g in groups], name=plot_text(name), mode="markers", marker=dict(size=9),
            error_x=dict(type="data", symmetric=False,
                         array=[(h - m) if h is not None and m is not None else 0 for m, _, h in values],
                         arrayminus=[(m - lo) if lo is not None and m is not None else 0 for m, lo, _ in values]),
            offsetgroup=str(offset),
        ))
    figure.update_layout(title=title, xaxis=dict(title=x_title, range=[scale[0] - 0.1, scale[1] + 0.1], dtick=1),
                         scattermode="group", **{**CALM, "height": 140 + 40 * len(groups)})
    return figure


def strength_chart(items: list[str], strengths: list[float], lows: list[float | None], highs: list[float | None], *,
                   title: str, x_title: str) -> go.Figure:
    """Bradley–Terry strengths (best on top) with their intervals as whiskers."""
    figure = go.Figure(go.Scatter(
        x=strengths, y=[plot_text(i) for i in items], mode="markers", marker=dict(size=10, color="#3d6b8c"),
        error_x=dict(type="data", symmetric=False,
                     array=[(h - s) if h is not None else 0 for s, h in zip(strengths, highs)],
                     arrayminus=[(s - lo) if lo is not None else 0 for s, lo in zip(strengths, lows)]),
    ))
    figure.update_layout(title=title, xaxis=dict(title=x_title, zeroline=True), yaxis=dict(autorange="reversed"),
                         showlegend=False, **{**CALM, "height": 140 + 40 * len(items)})
    return figure
