"""Plotly figure builders: pure functions from numbers to a figure, testable without Streamlit."""

from __future__ import annotations

import plotly.graph_objects as go

CALM = dict(template="plotly_white", margin=dict(l=10, r=10, t=40, b=10), height=320)


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
    figure = go.Figure([go.Histogram(x=values, name=name, opacity=0.6, nbinsx=40) for name, values in series.items()])
    figure.update_layout(title=title, barmode="overlay", xaxis_title=x_title, yaxis_title="", **CALM)
    return figure
