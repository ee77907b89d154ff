"""Complete 简体中文 (issue 12, item 7): every page, in a populated workspace, walked in zh through the real entry
point (AppTest); any label in English is a failure. Labels are what the lab writes: titles, texts, widget labels
and options, tabs, table headers, chart axes and legends. What the user or the corpus wrote (model, dataset and run
names, prompts, samples, paths) and numbers with their units are not labels, and are taken out before the check."""

from __future__ import annotations

import json
import re
import time

import pytest
from streamlit.testing.v1 import AppTest

from core.data.corpus import sample_files
from core.train.config import TrainConfig
from dashboard.i18n import texts
from dashboard.navigation import PAGES
from tests.test_pages import APP

pytestmark = pytest.mark.slow  # every page with a real model, and the Playground generates

RUN = "poems-run"
PROMPT = "The harbour"
# Names and units that stay as they are in Chinese too (models, libraries, statistics, units, file formats).
KEEP = re.compile(
    r"\b(?:gpt2(?:-medium|-large|-xl)?|distilgpt2|uer/gpt2-chinese-cluecorpussmall|starter|GPT-2|GPU|CPU|MPS|CUDA|"
    r"LoRA|BLEU|self-BLEU|BF16|FP16|FP32|bf16|fp16|fp32|AdamW|EMA|top-[kp]|HTML|JSONL|JSON|CSV|TXT|ZIP|UTF-8|GBK|"
    r"gb18030|big5|utf-8|MinHash|OpenCC|adamw_torch(?:_fused)?|adafactor|sgd|adagrad|rmsprop|Bradley[–-]Terry|Krippendorff|[KMG]i?B|[KMB]|ms|s|n|k|p|α|A|B)\b"
)
NUMBER = re.compile(r"[-+]?\d[\d,.]*(?:e[-+]?\d+)?%?")
DOCUMENT = re.compile(r"#\d+ · ")  # a document's number, then its first words: corpus text
IDENTIFIER = re.compile(r"[a-z]+(?:_[a-z0-9]+)+")  # a table cell such as html_to_text or docs_in: an id, not a label


def _populate(workspace) -> None:
    from core.data.build import build_dataset
    from core.data.cleaning.recipe import Recipe
    from core.data.loading import LoadOptions, load_paths
    from core.ratings.store import open_store

    corpus = load_paths(sample_files(), LoadOptions(), allowed_roots=None)  # a real build: its report has steps
    build_dataset(corpus.documents, corpus.files, Recipe.default(), workspace.datasets_dir / "poems", workers=1)
    run = workspace.runs_dir / RUN
    run.mkdir(parents=True)
    (run / "config.json").write_text(TrainConfig(dataset="poems").to_json(), encoding="utf-8")
    now = time.time()
    # Failed, with an empty log: the run view shows its error, the log's place, and the charts of what it did.
    (run / "status.json").write_text(json.dumps({"state": "failed", "step": 20, "max_steps": 40, "started": now - 60,
                                                 "ended": now, "error": "RuntimeError: boom"}), encoding="utf-8")
    (run / "train.log").write_text("", encoding="utf-8")
    (run / "metrics.jsonl").write_text("".join(
        json.dumps({"step": s, "loss": 6 - s / 10, "learning_rate": 5e-4, "eval_loss": 6 - s / 12} if s % 10 == 0
                   else {"step": s, "loss": 6 - s / 10, "learning_rate": 5e-4}) + "\n" for s in range(1, 21)))
    (run / "samples.jsonl").write_text("".join(
        json.dumps({"step": s, "prompt": PROMPT, "text": f" sample at {s}", "seed": 1}) + "\n" for s in (0, 20)))
    with open_store() as store:
        ids = store.add_samples([{"model": model, "source": "playground", "prompt": PROMPT, "text": f" text {i} {model}",
                                  "config_name": config, "sample_index": i, "settings": {"do_sample": i > 0}}
                                 for i, (model, config) in enumerate([("starter", "greedy"), ("starter", "top-k 50"),
                                                                      (f"runs/{RUN}/final", "greedy"),
                                                                      (f"runs/{RUN}/final", "top-k 50")])])
        for i, sample in enumerate(ids):
            store.rate(sample, "ann", {"fluency": 4, "coherence": 3 + i % 2, "style": 2, "repetition": 5})
            store.rate(sample, "bo", {"fluency": 3, "coherence": 4, "style": 2 + i % 3, "repetition": 4})
        store.vote(ids[0], ids[2], "ann", "b")
        store.vote(ids[1], ids[3], "bo", "tie")


def _chart_labels(chart) -> list[str]:
    figure = json.loads(chart.proto.spec)
    layout = figure.get("layout", {})
    found = []
    for name, part in layout.items():
        if re.fullmatch(r"[xy]axis\d*|legend", name) and isinstance(part, dict):
            title = part.get("title")
            found.append(title.get("text") if isinstance(title, dict) else title)
    found += [a.get("text") for a in layout.get("annotations", [])]
    title = layout.get("title")
    found.append(title.get("text") if isinstance(title, dict) else title)
    found += [trace.get("name") for trace in figure.get("data", [])]
    return [f for f in found if isinstance(f, str)]


def _labels(node) -> list[str]:
    """Every label under an AppTest node."""
    kind = getattr(node, "type", "")
    found = []
    if kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success",
                "exception", "toast"):
        found.append(node.value)
    for attribute in ("label", "help", "placeholder"):
        value = getattr(node, attribute, None)
        if isinstance(value, str):
            found.append(value)
    options = getattr(node, "options", None)
    if isinstance(options, list):
        found += [str(o) for o in options]
    if kind == "dataframe":
        found += [str(c) for c in node.value.columns]
        found += [cell for column in node.value.columns for cell in node.value[column]
                  if isinstance(cell, str) and IDENTIFIER.fullmatch(cell)]
    if kind == "plotly_chart":
        found += _chart_labels(node)
    children = getattr(node, "children", None)
    for child in (children.values() if isinstance(children, dict) else children or []):
        found += _labels(child)
    return found


def untranslated(labels: list[str], data: list[str]) -> list[str]:
    """The labels with English left in them once data, names, units and numbers are taken out."""
    wrong = []
    for label in dict.fromkeys(labels):
        if re.search(r"[\u3400-\u9fff]", label) or DOCUMENT.match(label):
            continue  # Chinese with a model name or a number in it: translated; or a document's first words
        rest = label
        for value in sorted(data, key=len, reverse=True):
            rest = rest.replace(value, " ")
        rest = NUMBER.sub(" ", KEEP.sub(" ", rest))
        if re.search(r"[A-Za-z]{2,}", rest):
            wrong.append(label)
    return wrong


def _walk(page: str, workspace) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["lang"] = "zh"
    at.query_params["rater"] = "ann"
    at.query_params["run"] = RUN
    at.run()
    if page != "home":
        at.switch_page(f"../pages/{page}.py").run()
    if page == "playground":  # the grid, the token view and the send button are drawn only with results
        at.slider(key="pg.columns").set_value(2)
        for i in range(2):
            at.number_input(key=f"pg.col.{i}.max_new_tokens").set_value(4)
        at.text_area(key="pg.prompts").input(PROMPT)
        at.run()
        at.button(key="pg.generate").click().run()
    return at


@pytest.mark.parametrize("page", [name for name, _ in PAGES])
def test_every_label_is_chinese(page, workspace):
    _populate(workspace)
    at = _walk(page, workspace)
    assert not at.exception, [e.value for e in at.exception]
    data = [str(workspace.root), f"runs/{RUN}/final", "best-of", "poems", RUN, PROMPT, "greedy", "top-k 50", "top-p 0.9", "temperature 1.2", "ann", "bo",
            "English", *(path.name for path in sample_files())]
    data += [item.record.text for item in at.session_state["pg.results"]] if page == "playground" else []
    labels = _labels(at._tree)
    if page == "train":  # the walk reads chart axes and table headers too
        zh = texts("zh")
        assert {zh["run.step_axis"], zh["runs.col.steps"]} <= set(labels)
        assert zh["run.empty_log"] in [c.value for c in at.code]  # a log's place: data otherwise, so not walked
    wrong = untranslated(labels, data)
    assert wrong == [], "\n".join(wrong)


def test_the_check_finds_english():
    assert untranslated(["step", "Loss", "(empty log)", "损失", "GPT-2 · 124M", "12.5 GiB", "starter · The harbour",
                         "docs_in", "#3 · The first draft"], ["The harbour"]) == ["step", "Loss", "(empty log)", "docs_in"]
