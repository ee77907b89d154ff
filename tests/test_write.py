"""The Write page's core: the prompt builder, drafts with provenance, suggestions, choices as data, and the
`write` / `serve` commands (the served model asked through the `openai` client on 127.0.0.1)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from core.playground.sampling import DecodingConfig, generate
from core.ratings import choices
from core.ratings.store import open_store
from core.write import drafts, prompt, suggest
from tests.conftest import ROOT, core_env, poll, run_core


@pytest.fixture(scope="module")
def tokenizer(starter_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(starter_dir)


def count(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def test_memory_is_always_in_front_and_the_draft_is_cut_from_its_start(tokenizer):
    memory, draft = "Title: The Sea. Form: sonnet.", "".join(f"Line {i} of the long draft about the sea.\n" for i in range(40))
    built = prompt.build(tokenizer, memory, draft, context=64, reserve=16)
    assert built.text.startswith(memory + prompt.SEPARATOR)
    assert built.text.endswith("Line 39 of the long draft about the sea.\n")  # the draft's end is kept
    assert built.cut_chars > 0 and draft[built.cut_chars:] == built.text[len(memory + prompt.SEPARATOR):]
    assert count(tokenizer, built.text) <= 64 - 16
    assert built.memory_tokens == count(tokenizer, memory + prompt.SEPARATOR)
    assert built.memory_tokens + built.draft_tokens == count(tokenizer, built.text)

    short = prompt.build(tokenizer, memory, "A short draft.", context=64, reserve=16)
    assert short.cut_chars == 0 and short.text == memory + prompt.SEPARATOR + "A short draft."
    chinese = prompt.build(tokenizer, "七言绝句", "春风又绿江南岸，明月何时照我还。" * 20, context=48, reserve=8)
    assert chinese.text.startswith("七言绝句") and "\ufffd" not in chinese.text and count(tokenizer, chinese.text) <= 40
    with pytest.raises(Exception, match="shorten the memory"):
        prompt.build(tokenizer, memory * 20, draft, context=64, reserve=16)


def _span(seed: int = 1) -> drafts.Span:
    return drafts.Span(0, 0, model="starter", checkpoint="/m", setting="top-p 0.9", settings={"top_p": 0.9}, seed=seed,
                       sample_index=0)


def test_drafts_keep_provenance_through_edits_undo_redo_rename_and_export(workspace):
    draft = drafts.create(workspace, "my poem")
    draft.memory = "七言绝句"
    drafts.accept(draft, "Hello", _span())
    draft.text = draft.text  # nothing changed
    drafts.edit(draft, "Oh. Hello")  # typed before the span: it moves with its text
    assert [(s.start, s.end) for s in draft.spans] == [(4, 9)] and draft.text[4:9] == "Hello"
    drafts.accept(draft, " world", _span(seed=2))
    drafts.save(workspace, draft)
    again = drafts.load(workspace, "my poem")
    assert again.text == "Oh. Hello world" and [s.seed for s in again.spans] == [1, 2] and again.memory == "七言绝句"
    drafts.undo(again)
    assert again.text == "Oh. Hello" and len(again.spans) == 1
    drafts.redo(again)
    assert again.text == "Oh. Hello world" and again.spans[1].start == 9
    drafts.edit(again, "Oh. Help world")  # the writer changed a span: it becomes theirs
    assert [s.seed for s in again.spans] == [2]
    drafts.save(workspace, again)
    renamed = drafts.rename(workspace, "my poem", "final poem")
    assert drafts.names(workspace) == ["final poem"] and renamed.text == "Oh. Help world"
    assert "setting top-p 0.9, seed 2" in drafts.export(renamed, "md") and drafts.export(renamed, "txt").startswith("Oh.")
    with pytest.raises(Exception, match="exists already"):
        drafts.create(workspace, "final poem")
    with pytest.raises(Exception, match="not a usable draft name"):
        drafts.create(workspace, "../escape")


def test_suggest_streams_n_alternatives_and_branch_regenerates_from_a_token(quick_models, monkeypatch):
    monkeypatch.setattr(suggest, "LENGTHS", {"line": 6, "paragraph": 10})  # short: what is checked is the plumbing
    tokenizer, model = quick_models
    config = DecodingConfig(name="top-p 0.9", do_sample=True, top_p=0.9, seed=3)
    streamed: dict[int, str] = {}
    result = suggest.suggest(model, tokenizer, "A play", "The king said", config, n=3, length="paragraph",
                             on_token=lambda row, piece: streamed.__setitem__(row, streamed.get(row, "") + piece))
    assert len(result.texts) == 3 and result.prompt.text == "A play" + prompt.SEPARATOR + "The king said"
    assert [streamed[i] for i in range(3)] == result.texts  # streamed as written, whole characters only
    assert suggest.suggest(model, tokenizer, "A play", "The king said", config, n=3, length="paragraph",
                           round_=1).texts != result.texts  # "more" gives new ones
    line = suggest.suggest(model, tokenizer, "", "The king said", config, n=2, length="line")
    assert all("\n" not in text.strip("\n") for text in line.texts)
    sample = result.samples[0]
    other = sample.steps[2].candidates[1].token_id
    branched = suggest.branch(model, tokenizer, "A play", "The king said", sample, 2, other, config)
    assert branched.token_ids[:2] == sample.token_ids[:2] and branched.token_ids[2] == other
    assert len(branched.steps) == len(branched.token_ids)


def test_choices_are_recorded_as_preferences_and_summarised(workspace):
    with open_store() as store:
        common = dict(writer="ann", draft="poem", context="The sea", model="starter", checkpoint="/m",
                      setting={"name": "top-p 0.9", "top_p": 0.9}, seed=4)
        first = choices.record_choice(store, accepted=" b", shown=[" a", " b", " c"], action="accept", **common)
        choices.record_choice(store, accepted=None, shown=[" d", " e", " f"], action="dismiss", **common)
        with pytest.raises(Exception, match="one of those shown"):
            choices.record_choice(store, accepted=" z", shown=[" a"], action="accept", **common)
        listed = choices.list_choices(store)
    assert [c.id for c in listed][0] == first and [c.action for c in listed] == ["accept", "dismiss"]
    assert listed[0].shown == [" a", " b", " c"] and listed[0].setting["top_p"] == 0.9
    assert choices.preferences(listed) == [("The sea", " b", " a"), ("The sea", " b", " c")]
    [row] = choices.summary(listed)
    assert (row["shown"], row["accepted"], row["dismissed"], row["pairs"], row["accept_rate"]) == (2, 1, 1, 2, 0.5)


@pytest.mark.slow
def test_write_command_prints_alternatives_and_says_when_the_draft_is_cut(workspace, tmp_path):
    draft = tmp_path / "draft.txt"
    draft.write_text("The lighthouse keeper " * 400, encoding="utf-8")
    result = run_core(workspace, "write", "--model", "starter", "--draft", str(draft), "--n", "2")
    assert result.returncode == 0, result.stderr
    assert "left out" in result.stdout and "1: " in result.stdout and "2: " in result.stdout
    gone = run_core(workspace, "write", "--model", "no-such-run/final", "--draft", str(draft))
    assert gone.returncode != 0 and gone.stderr.startswith("error: ") and "Traceback" not in gone.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_answers_the_openai_client_with_the_playgrounds_greedy(trained_run):
    import openai
    import torch

    from core import models

    port = _free_port()
    env = core_env(QUILL_HOME=str(trained_run.workspace.root), OMP_NUM_THREADS="1")
    server = subprocess.Popen([sys.executable, "-m", "core", "serve", "shared", "--port", str(port)], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="local", max_retries=0)

        def listed():
            try:
                return [m.id for m in client.models.list().data]
            except openai.APIConnectionError:
                assert server.poll() is None, server.stdout.read()
                return None

        assert poll(listed, timeout=240, every=0.5) == ["shared"]
        prompt_text = "ROMEO:\nThe"
        answer = client.completions.create(model="shared", prompt=prompt_text, max_tokens=16, temperature=0)
        tokenizer, model = models.load("shared", trained_run.workspace)
        with torch.inference_mode():
            [greedy] = generate(model, tokenizer, prompt_text, [DecodingConfig(name="greedy", max_new_tokens=16)])
        assert answer.choices[0].text == greedy.text and greedy.text  # (20 steps of training: mostly line breaks)
        with pytest.raises(openai.APIStatusError):  # a prompt beyond the context: an HTTP error
            client.completions.create(model="shared", prompt="the " * 5000, max_tokens=8)
        with pytest.raises(openai.APIStatusError):  # a model it does not serve
            client.completions.create(model="gpt2", prompt="x", max_tokens=8)
        assert client.completions.create(model="shared", prompt="The", max_tokens=4).choices[0].text is not None
        busy = run_core(trained_run.workspace, "serve", "shared", "--port", str(port), timeout=120)
        assert busy.returncode != 0 and "--port" in busy.stderr and "Traceback" not in busy.stderr
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def test_write_page_suggests_accepts_undoes_and_records_the_choice(workspace, quick_models, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from core.ratings.store import open_store
    from tests.test_pages import APP

    monkeypatch.setattr(suggest, "LENGTHS", {"line": 6, "paragraph": 10})
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["lang"] = "zh"
    at.run()
    at.switch_page("../pages/write.py").run()
    at.text_input(key="write.writer").set_value("ann").run()
    at.text_input(key="write.new_name").set_value("poem").run()
    at.button(key="write.new").click().run()
    at.text_area(key="write.memory").set_value("七言绝句").run()
    at.text_area(key="write.text").set_value("The king said").run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="write.suggest_line").click().run()
    assert [b.key for b in at.button if b.key and b.key.startswith("write.accept.")] == [f"write.accept.{i}" for i in range(3)]
    at.button(key="write.accept.1").click().run()
    draft = drafts.load(workspace, "poem")
    assert draft.text.startswith("The king said") and len(draft.spans) == 1 and draft.memory == "七言绝句"
    assert at.text_area(key="write.text").value == draft.text
    with open_store() as store:
        [choice] = choices.list_choices(store)
    assert choice.action == "accept" and choice.writer == "ann" and choice.accepted == choice.shown[1]
    assert choice.context.startswith("七言绝句")
    at.button(key="write.branch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="write.undo").click().run()
    assert drafts.load(workspace, "poem").text == draft.text  # the branch undone
    at.button(key="write.undo").click().run()
    assert drafts.load(workspace, "poem").text == "The king said" and at.text_area(key="write.text").value == "The king said"
