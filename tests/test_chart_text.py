"""Labels in charts are text (issue 20, item 7): plotly renders titles, ticks, legends and hover as a subset of
HTML, so every user-supplied name that enters a figure is escaped, and shows as exactly what was typed."""

from __future__ import annotations

import json

from core.ratings.store import open_store
from dashboard import figures
from tests.test_pages import open_page

PHISH = '<a href="http://127.0.0.1:9/phish">CLICKME</a>'


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _no_markup(figure_json: dict) -> None:
    shown = list(_strings(figure_json))
    assert not [s for s in shown if "<a" in s or "<b>" in s], shown
    assert any("&lt;a href" in s for s in shown)  # there, as text


def test_every_figure_builder_escapes_user_names():
    ci = (3.0, 2.0, 4.0)
    built = [
        figures.mean_ci_chart([PHISH, "<b>bold</b>"], {PHISH: [ci, ci]}, title="t", x_title="x"),
        figures.strength_chart([PHISH], [0.5], [0.1], [0.9], title="t", x_title="x"),
        figures.loss_chart({PHISH: [{"step": 1, "loss": 2.0}], "b": []}, title="t", train_label="a", smooth_label="s",
                           eval_label="e", step_label="x"),
        figures.sweep_curves({PHISH: [{"step": 1, "eval_loss": 2.0}]}, {}, title="t", eval_label="e", step_label="x"),
        figures.length_histograms({PHISH: [1, 2]}, title="t", x_title="x"),
    ]
    for figure in built:
        _no_markup(figure.to_plotly_json())
    assert figures.plot_text("a&lt;b <i>") == "a&amp;lt;b &lt;i&gt;"  # entities stay text too


def test_the_ratings_results_show_setting_names_as_text(workspace):
    with open_store() as store:
        (sample,) = store.add_samples([{"model": "starter", "source": "playground", "prompt": "p", "text": "t",
                                        "config_name": PHISH, "settings": {}}])
        store.rate(sample, "ann", {"fluency": 4, "coherence": 3, "style": 5, "repetition": 2})
    at = open_page("ratings")
    assert not at.exception, [e.value for e in at.exception]
    shown = [s for chart in at.get("plotly_chart") for s in _strings(json.loads(chart.proto.spec))]
    assert not [s for s in shown if "<a" in s]
    assert sum("&lt;a href" in s for s in shown) >= 2  # the mean ± interval chart and the score distribution
