"""The recipe (JSON round trip, validation) and the pipeline (per-step counts, traces, parallel = serial)."""

import json

import pytest

from core.data.cleaning.outcome import Dropped
from core.data.cleaning.pipeline import clean, preview
from core.data.cleaning.recipe import STEP_ORDER, Recipe, StepConfig, default_params
from core.data.corpus import sample_texts
from core.errors import UserError
from tests.conftest import SHARED, require


def test_default_recipe_round_trips_and_has_the_agreed_steps_on():
    recipe = Recipe.default()
    assert [s.name for s in recipe.steps] == STEP_ORDER
    on = {s.name for s in recipe.enabled_steps()}
    assert {"html_to_text", "fix_mojibake", "normalize_width", "normalize_whitespace", "exact_dedup", "near_dedup"} <= on
    assert not on & {"convert_chinese", "language_filter"}
    again = Recipe.from_json(recipe.to_json())
    assert again == recipe
    recipe.step("near_dedup").params["threshold"] = 0.9
    assert Recipe.from_json(recipe.to_json()).step("near_dedup").arguments()["threshold"] == 0.9


@pytest.mark.parametrize("bad, message", [
    ("{", "not valid JSON"),
    ('{"steps": 3}', "steps"),
    ('{"steps": [{"name": "shout"}]}', "unknown cleaning step 'shout'"),
    ('{"steps": [{"name": "near_dedup", "params": {"treshold": 0.5}}]}', "no parameter treshold"),
    ('{"steps": [{"name": "near_dedup", "params": {"threshold": "high"}}]}',
     "^step 'near_dedup': parameter threshold must be a number, not the string \"high\"$"),
    ('{"steps": [{"name": "near_dedup", "params": {"threshold": NaN}}]}', "threshold must be a finite number"),
    ('{"steps": [{"name": "quality_filter", "params": {"min_words": 2.5}}]}', "min_words must be a whole number"),
    ('{"steps": [{"name": "quality_filter", "params": {"min_words": true}}]}', "min_words must be a whole number"),
    ('{"steps": [{"name": "language_filter", "params": {"languages": ["en", 7]}}]}', r"languages\[1\] must be"),
    ('{"steps": [{"name": "near_dedup", "enabled": "yes"}]}', "enabled must be true or false"),
])
def test_bad_recipes_say_what_is_wrong(bad, message):
    with pytest.raises(UserError, match=message):
        Recipe.from_json(bad)


def test_recipe_parameters_take_json_numbers_and_lists_as_their_types():
    recipe = Recipe.from_json('{"steps": [{"name": "quality_filter", "params": {"min_words": 8.0, "max_symbol_ratio": 1}},'
                              ' {"name": "language_filter", "params": {"languages": ["en", "fr"]}}]}')
    params = recipe.step("quality_filter").params
    assert params == {"min_words": 8, "max_symbol_ratio": 1.0}
    assert type(params["min_words"]) is int and type(params["max_symbol_ratio"]) is float
    assert recipe.step("language_filter").params["languages"] == ("en", "fr")


def test_every_steps_own_defaults_read_back_as_a_recipe():
    """Each parameter a step declares (also one declared on a function it forwards to) is read from JSON."""
    steps = [{"name": name, "params": default_params(name)} for name in STEP_ORDER]
    recipe = Recipe.from_json(json.dumps({"steps": steps}))
    assert [(s.name, s.params) for s in recipe.steps] == [(s["name"], s["params"]) for s in steps]
    assert "min_documents" in recipe.step("remove_boilerplate_lines").params


def test_parameters_come_from_the_step_functions():
    assert "threshold" in default_params("near_dedup")
    assert default_params("html_to_text")["mode"] == "auto"


def test_counts_add_up_and_traces_say_who_did_what():
    texts = ["<p>Hello   there, this is a perfectly fine sentence of some length.</p>",
             "Ｆｕｌｌ width text that is long enough to keep around here.",
             "Hello there, this is a perfectly fine sentence of some length.",
             "* * *"]
    result = clean(Recipe.default(), texts, track=True)
    steps = {s.name: s for s in result.steps}
    for previous, step in zip(result.steps, result.steps[1:]):
        assert step.docs_in == previous.docs_out and step.chars_in == previous.chars_out
    assert result.steps[0].docs_in == 4 and result.steps[-1].docs_out == len(result.texts) == 2
    assert steps["exact_dedup"].dropped == {"exact_duplicate": 1}
    assert steps["quality_filter"].dropped == {"too_short": 1}
    assert result.texts[1].startswith("Full width")
    first = [e.step for e in result.traces[0]]
    assert first[0] == "html_to_text" and "normalize_whitespace" in first
    duplicate = result.traces[2][-1]
    assert duplicate.step == "exact_dedup" and isinstance(duplicate.dropped, Dropped)
    assert result.kept == [0, 1]
    report = result.report()
    assert json.loads(json.dumps(report))["docs_out"] == 2


def test_parallel_run_equals_serial_and_starts_one_pool(monkeypatch):
    from concurrent.futures import ProcessPoolExecutor

    import core.data.cleaning.corpus_steps as corpus_steps
    import core.data.cleaning.pipeline as pipeline

    monkeypatch.setattr(pipeline, "CHUNK_CHARS", 5_000)  # several chunks from the small corpus
    monkeypatch.setattr(corpus_steps, "PARALLEL_MIN_DOCS", 10)  # near dedup hashes in the pool too
    monkeypatch.setattr(corpus_steps, "PARALLEL_CHUNK_DOCS", 16)
    pools = []
    start = ProcessPoolExecutor.__init__
    monkeypatch.setattr(ProcessPoolExecutor, "__init__", lambda self, *a, **k: pools.append(1) or start(self, *a, **k))
    texts = sample_texts()
    serial = clean(Recipe.default(), texts, workers=1)
    assert pools == []
    parallel = clean(Recipe.default(), texts, workers=2)
    assert parallel.texts == serial.texts
    assert [vars(s) for s in parallel.steps] == [vars(s) for s in serial.steps]
    assert len(pools) == 1  # the per-document steps and near dedup's hashing share the run's pool


def test_a_run_of_a_few_chunks_is_cut_finer_so_that_every_worker_gets_an_equal_share(monkeypatch):
    import core.data.cleaning.pipeline as pipeline

    monkeypatch.setattr(pipeline, "CHUNK_CHARS", 1_000)
    texts = [f"{i:03d}" + "x" * 97 for i in range(25)]  # 2,500 characters: 3 chunks of at most 1,000
    chunks = pipeline._chunks(texts, 8)  # 2 workers, 4 chunks each
    assert [text for chunk in chunks for text in chunk] == texts  # the order is kept
    assert len(chunks) == 8 and {len(chunk) for chunk in chunks} <= {3, 4}  # not 10 + 10 + 5 documents
    assert pipeline._chunks(texts[:10], 8) == [texts[:10]]  # one chunk's worth stays one chunk: no pool
    assert len(pipeline._chunks(texts * 40, 8)) == 100  # big runs keep chunks of CHUNK_CHARS
    # ... as many as a multiple of the workers, so that no worker does the last one alone
    assert len(pipeline._chunks(texts * 34, 8, 2)) == 86 and len(pipeline._chunks(texts * 34, 8)) == 85


def test_tokens_are_counted_with_a_tokenizer(starter_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(starter_dir)
    result = clean(Recipe([StepConfig("normalize_width")]), ["ＡＢＣ　ｄｅｆ", "plain"], tokenizer=tokenizer)
    step = result.steps[0]
    assert step.tokens_in == sum(len(tokenizer(t)["input_ids"]) for t in ["ＡＢＣ　ｄｅｆ", "plain"])
    assert step.tokens_out == sum(len(tokenizer(t)["input_ids"]) for t in result.texts)


def test_token_counts_on_real_text_match_the_tokenizer(starter_dir):
    """The counts come from the tokenizer's tiktoken twin: on real English and Chinese they are the tokenizer's."""
    from transformers import AutoTokenizer

    require(SHARED.is_dir(), "../shared (real corpora) is missing")
    tokenizer = AutoTokenizer.from_pretrained(starter_dir)
    plays = (SHARED / "data" / "tinyshakespeare.txt").read_text(encoding="utf-8").split("\n\n")[:300]
    poems = json.loads((SHARED / "data" / "zh-poetry" / "宋词三百首.json").read_text(encoding="utf-8"))[:300]
    texts = plays + ["\n".join(p["paragraphs"]) for p in poems] + ["a<|endoftext|>b"]
    result = clean(Recipe([StepConfig("normalize_width")]), texts, tokenizer=tokenizer)
    assert result.steps[0].tokens_in == sum(len(ids) for ids in tokenizer(texts)["input_ids"])


def test_preview_samples_and_truncates():
    texts = [f"Document number {i}. " * 1000 for i in range(1000)]
    result, indices = preview(Recipe.default(), texts, seed=3)
    assert len(indices) == 200 == result.docs_in and indices == sorted(indices)
    assert preview(Recipe.default(), texts, seed=3)[1] == indices
    assert result.chars_in <= 200 * 8_000


def test_exact_dedup_runs_before_the_line_steps():
    names = [s.name for s in Recipe.default().steps]
    assert names.index("exact_dedup") < names.index("remove_boilerplate_lines")
    late = Recipe([StepConfig("remove_boilerplate_lines"), StepConfig("exact_dedup")])
    with pytest.raises(UserError, match="exact_dedup must run before remove_boilerplate_lines"):
        clean(late, ["a", "b"])
    with pytest.raises(UserError, match="exact_dedup must run before"):
        Recipe.from_dict({"version": 2, "steps": [{"name": "remove_boilerplate_lines"}, {"name": "exact_dedup"}]})
    clean(Recipe([StepConfig("remove_boilerplate_lines"), StepConfig("exact_dedup", enabled=False)]), ["a", "b"])


def test_a_version_1_recipe_still_loads_in_todays_order():
    old_order = ["html_to_text", "fix_mojibake", "normalize_width", "convert_chinese", "remove_boilerplate_lines",
                 "normalize_whitespace", "filter_characters", "quality_filter", "language_filter", "exact_dedup",
                 "near_dedup"]
    quality = {"min_chars": 50, "max_symbol_ratio": 0.2}
    saved = {"version": 1, "steps": [{"name": name, "params": quality if name == "quality_filter" else {}}
                                     for name in old_order]}
    recipe = Recipe.from_dict(saved)
    assert [s.name for s in recipe.steps] == STEP_ORDER
    assert recipe.step("quality_filter").params == {"max_symbol_ratio": 0.2}
    assert recipe.to_dict()["version"] == 2


def test_the_preview_lists_the_boilerplate_lines_it_removed_with_their_document_counts():
    footer = "Subscribe to the Harbour Gazette for more stories"
    texts = [f"Story {i} begins here and goes on.\n{footer}\n" for i in range(6)] + ["A poem.\nWith two lines."] * 2
    result, _ = preview(Recipe.default(), texts)
    step = next(s for s in result.steps if s.name == "remove_boilerplate_lines")
    assert step.removed_lines == {footer: 6}
    saved = json.loads(json.dumps(result.report()))  # as report.json holds it
    assert next(s for s in saved["steps"] if s["name"] == "remove_boilerplate_lines")["removed_lines"] == {footer: 6}
