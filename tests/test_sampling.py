"""The batched decode agrees with transformers, reproduces per row, streams and stops; the sample statistics."""

from __future__ import annotations

import codecs
import math
import threading

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, GPT2Config, GPT2LMHeadModel

from core.data.corpus import sample_texts
from core.errors import UserError
from core.evaluation.sample_stats import CorpusIndex, distinct_n, memorization, perplexity, repetition_rate, stats
from core.playground.sampling import DEFAULT_CONFIGS, DecodingConfig, RowParams, Sample, generate, process
from core.playground.token_text import TextStream, byte_chars, token_bytes, token_label
from core.playground.utf8_guard import Utf8Guard, state_of

PROMPT = "The lighthouse keeper opened the door and"

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # The starter is tiny: with several threads on a busy machine, OpenMP contention makes a decode of a few
    # tokens take seconds instead of milliseconds.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def starter(starter_dir):
    tokenizer = AutoTokenizer.from_pretrained(starter_dir)
    model = AutoModelForCausalLM.from_pretrained(starter_dir).eval()
    return model, tokenizer


# (a) ---------------------------------------------------------------------------------------------------------------

MIXED = [
    DecodingConfig(name="greedy"),
    DecodingConfig(name="greedy penalized", repetition_penalty=1.3, no_repeat_ngram_size=2),
    DecodingConfig(name="top-k", do_sample=True, top_k=5),
    DecodingConfig(name="top-p", do_sample=True, top_p=0.9),
    DecodingConfig(name="hot", do_sample=True, temperature=1.7),
    DecodingConfig(name="cold top-k top-p", do_sample=True, temperature=0.6, top_k=40, top_p=0.8),
    DecodingConfig(name="all", do_sample=True, temperature=0.8, top_k=20, top_p=0.7, repetition_penalty=1.2,
                   no_repeat_ngram_size=3),
    DecodingConfig(name="ngram", do_sample=True, top_p=0.95, no_repeat_ngram_size=2, repetition_penalty=0.9),
    DecodingConfig(name="tiny top-p", do_sample=True, top_p=0.01, top_k=1000),
]


def reference_processors(config: DecodingConfig, input_ids: torch.Tensor):
    """The processors model.generate would build for this config, in its order (from transformers itself)."""
    tiny = GPT2LMHeadModel(GPT2Config(vocab_size=8, n_positions=8, n_embd=8, n_layer=1, n_head=1))
    generation_config = GenerationConfig(
        do_sample=config.do_sample,
        temperature=config.temperature,
        top_k=config.top_k,
        top_p=config.top_p,
        repetition_penalty=config.repetition_penalty,
        no_repeat_ngram_size=config.no_repeat_ngram_size,
    )
    return tiny._get_logits_processor(
        generation_config=generation_config,
        input_ids_seq_length=input_ids.shape[-1],
        encoder_input_ids=input_ids,
        logits_processor=None,
        device=input_ids.device,
        model_kwargs={"attention_mask": torch.ones_like(input_ids)},
    )


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("trial", range(4))
def test_row_processing_equals_transformers_processors(trial, device):
    generator = torch.Generator().manual_seed(trial)
    rows, vocab, length = len(MIXED), 500, 24
    # Ids drawn from a small range so n-grams repeat; every other trial has ties among the logits.
    input_ids = torch.randint(0, 12, (rows, length), generator=generator)
    scores = torch.randn(rows, vocab, generator=generator) * 3
    if trial % 2:
        scores = (scores * 2).round() / 2
    input_ids, scores = input_ids.to(device), scores.to(device)

    ours = process(input_ids, scores.clone(), RowParams.of(MIXED, device)).final

    for row, config in enumerate(MIXED):
        expected = scores[row : row + 1].clone()
        processors = reference_processors(config, input_ids[row : row + 1])
        assert len(processors) > 0 or config.name == "greedy"
        for processor in processors:
            expected = processor(input_ids[row : row + 1], expected)
        assert torch.equal(ours[row : row + 1], expected), config.name


def test_processing_filters_something_in_each_filtering_row():
    # Guards the test above against a vacuous pass: the filters really cut tokens.
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(len(MIXED), 500, generator=generator) * 3
    input_ids = torch.randint(0, 12, (len(MIXED), 24), generator=generator)
    ours = process(input_ids, scores.clone(), RowParams.of(MIXED)).final
    cut = dict(zip([c.name for c in MIXED], torch.isinf(ours).sum(dim=-1).tolist()))
    assert cut.pop("greedy") == 0 and cut.pop("hot") == 0  # no filter in these two
    assert all(n > 0 for n in cut.values()), cut
    assert not torch.equal(ours[4], scores[4])  # the temperature did change the hot row


def test_a_constraint_applies_before_top_k_as_generate_places_it():
    # The UTF-8 mask goes through `process` between penalties and warpers: top-k 1 then keeps the best token the
    # constraint allows (after the warpers, the row would have no token left).
    scores = torch.tensor([[3.0, 2.0, 1.0, 0.0]])
    rows = RowParams.of([DecodingConfig(name="k1", do_sample=True, top_k=1)])
    forbid_best = lambda s: s.masked_fill(torch.tensor([[True, False, False, False]]), -float("inf"))  # noqa: E731
    final = process(torch.zeros(1, 1, dtype=torch.long), scores, rows, forbid_best).final
    assert final.argmax().item() == 1 and torch.isfinite(final).sum().item() == 1


# (b) ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [DecodingConfig(max_new_tokens=20), DecodingConfig(repetition_penalty=1.3, no_repeat_ngram_size=3, max_new_tokens=20)],
    ids=["plain", "penalized"],
)
def test_greedy_equals_model_generate(starter, config):
    config = DecodingConfig(**{**config.to_dict(), "valid_utf8": False})  # the raw model, as generate has it
    model, tokenizer = starter
    inputs = tokenizer(PROMPT, return_tensors="pt")
    expected = model.generate(
        **inputs,
        do_sample=False,
        max_new_tokens=20,
        repetition_penalty=config.repetition_penalty,
        no_repeat_ngram_size=config.no_repeat_ngram_size,
        pad_token_id=tokenizer.eos_token_id,
    )[0, inputs["input_ids"].shape[1] :].tolist()
    (sample,) = generate(model, tokenizer, PROMPT, [config])
    assert sample.token_ids == expected
    assert len(sample.token_logprobs) == len(expected)
    assert all(lp <= 0 for lp in sample.token_logprobs)


# (c), (d) ----------------------------------------------------------------------------------------------------------

SEVEN = DecodingConfig(name="seven", do_sample=True, top_k=50, top_p=0.95, temperature=1.1, num_samples=2, seed=7,
                       max_new_tokens=24)


def test_a_row_is_the_same_alone_or_batched(starter):
    model, tokenizer = starter
    alone = generate(model, tokenizer, PROMPT, [SEVEN])
    others = [
        DecodingConfig(name="greedy", max_new_tokens=10),
        DecodingConfig(name="hot", do_sample=True, temperature=1.5, num_samples=3, seed=7, max_new_tokens=30),
        DecodingConfig(name="top-p", do_sample=True, top_p=0.5, repetition_penalty=1.2, seed=1, max_new_tokens=24),
    ]
    batched = generate(model, tokenizer, PROMPT, [others[0], others[1], SEVEN, others[2]])
    together = [s for s in batched if s.config == "seven"]
    assert [s.token_ids for s in together] == [s.token_ids for s in alone]
    assert [s.text for s in together] == [s.text for s in alone]
    assert [s.sample_index for s in together] == [0, 1]
    assert alone[0].text != alone[1].text  # two samples of a column are two different draws


def test_same_seed_same_text_other_seed_other_text(starter):
    model, tokenizer = starter
    config = DecodingConfig(name="top-k", do_sample=True, top_k=50, seed=3, max_new_tokens=24)
    first = generate(model, tokenizer, PROMPT, [config])[0]
    again = generate(model, tokenizer, PROMPT, [config])[0]
    other = generate(model, tokenizer, PROMPT, [DecodingConfig(**{**config.to_dict(), "seed": 4})])[0]
    assert first.text == again.text and first.token_ids == again.token_ids
    assert first.token_ids != other.token_ids


# (g) ---------------------------------------------------------------------------------------------------------------


def test_on_token_streams_each_token_and_stop_halts(starter):
    model, tokenizer = starter
    stop = threading.Event()
    pieces: dict[int, list[str]] = {}

    def on_token(row, text):
        pieces.setdefault(row, []).append(text)
        if len(pieces[0]) == 5:
            stop.set()

    configs = [DecodingConfig(max_new_tokens=60), DecodingConfig(name="t", do_sample=True, max_new_tokens=60)]
    samples = generate(model, tokenizer, PROMPT, configs, stop=stop, on_token=on_token)
    for row, sample in enumerate(samples):
        assert len(sample.token_ids) == 5 and sample.stopped
        assert len(pieces[row]) == len(sample.token_ids)  # one call per token
        assert "".join(pieces[row]) == sample.text


def test_keep_top_shows_what_the_filters_cut(starter):
    model, tokenizer = starter
    config = DecodingConfig(name="k2", do_sample=True, top_k=2, max_new_tokens=6)
    (sample,) = generate(model, tokenizer, PROMPT, [config], keep_top=5)
    assert len(sample.steps) == len(sample.token_ids)
    for step, token in zip(sample.steps, sample.token_ids):
        assert step.token_id == token
        assert [c.cut for c in step.candidates] == [None, None, "top_k", "top_k", "top_k"]
        assert token in [c.token_id for c in step.candidates[:2]]
        probs = [c.prob for c in step.candidates]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001


def test_defaults_and_config_round_trip():
    assert [c.name for c in DEFAULT_CONFIGS] == ["greedy", "top-k 50", "top-p 0.9", "temperature 1.2"]
    for config in DEFAULT_CONFIGS:
        assert DecodingConfig.from_dict(config.to_dict()) == config
    assert DecodingConfig.from_dict({"name": "x", "top_k": 40.0}).top_k == 40


@pytest.mark.parametrize(
    "data",
    [
        {"name": "x", "topk": 5},
        {"name": "x", "do_sample": True, "temperature": 0},
        {"name": "x", "top_p": 0},
        {"name": "x", "top_p": 1.5},
        {"name": "x", "top_k": -1},
        {"name": "x", "max_new_tokens": 0},
        {"name": "x", "num_samples": 0},
        {"name": "x", "top_k": 2.5},
        {"name": "x", "do_sample": "yes"},
    ],
)
def test_bad_configs_are_user_errors(data):
    with pytest.raises(UserError):
        DecodingConfig.from_dict(data)


# (e) ---------------------------------------------------------------------------------------------------------------


def test_statistics_of_hand_made_strings():
    assert distinct_n("a a b", 1) == pytest.approx(2 / 3)
    assert distinct_n("a a b", 2) == 1.0
    assert distinct_n("好好好好", 1) == pytest.approx(1 / 4)  # characters for Chinese
    assert distinct_n("好好好好", 2) == pytest.approx(1 / 3)
    assert repetition_rate("好好好好好好好") == pytest.approx(3 / 4)  # 4 character 4-grams, one distinct
    assert repetition_rate("我们去公园散步") == 0.0
    assert repetition_rate("the cat sat on the cat sat on the mat") == pytest.approx(2 / 7)  # 7 4-grams, 2 again
    assert repetition_rate("too short") == 0.0
    assert perplexity([math.log(0.5), math.log(0.125)]) == pytest.approx(4.0)  # exp(-mean) = exp(2 ln 2)

    sample = Sample("c", 0, 0, "p", "a a b", [1, 2, 3], [math.log(0.25)] * 3)
    got = stats(sample)
    assert got["length_tokens"] == 3 and got["distinct_1"] == pytest.approx(2 / 3)
    assert got["mean_logprob"] == pytest.approx(math.log(0.25)) and got["perplexity"] == pytest.approx(4.0)
    assert got["memorized"] is None


# (f) ---------------------------------------------------------------------------------------------------------------


def test_memorization_flags_a_copied_stretch():
    texts = sample_texts()
    index = CorpusIndex(texts)
    source = max(texts, key=len)
    copied = source[200:320]
    assert len(copied) == 120
    sample_text = "☃" + copied + "☃"  # a snowman is in no training text, so the match cannot run past the copy
    found = memorization(sample_text, index)
    assert found.length == 120 and found.shared == copied and found.flagged

    fresh = memorization("Zyx quibbled: seventeen jade kazoos went bzzt on Wednesday.", index)
    assert not fresh.flagged and 0 < fresh.length < 20
    assert memorization(sample_text, texts).length == 120  # a plain list of texts works too

    sample = Sample("c", 0, 0, "p", sample_text, [1], [-1.0])
    assert stats(sample, index)["longest_shared_chars"] == 120 and stats(sample, index)["memorized"]


def test_longest_match_is_exact_against_brute_force():
    corpus = ["abracadabra", "banana bandana", "cadabra"]
    index = CorpusIndex(corpus)
    for query in ["xbandanax", "abrac", "nan", "zzz", "", "cadabrab", "ana band"]:
        brute = max(
            (query[i:j] for i in range(len(query)) for j in range(i, len(query) + 1) if any(query[i:j] in t for t in corpus)),
            key=len,
            default="",
        )
        assert len(index.longest_match(query)) == len(brute), query


def test_draw_never_picks_a_token_of_probability_zero():
    from core.playground.sampling import _draw

    probs = torch.tensor([[0.0, 0.5, 0.0, 0.5]] * 4)
    picks = _draw(probs, torch.tensor([0.0, 0.49, 0.5, 0.9999999]))
    assert picks.tolist() == [1, 1, 3, 3]


# (h) whole characters ----------------------------------------------------------------------------------------------


def _byte_token(tokenizer, byte: int) -> int:
    return tokenizer.convert_tokens_to_ids(byte_chars()[byte])


def test_the_mask_allows_only_valid_continuations(starter):
    _, tokenizer = starter
    pieces = token_bytes(tokenizer)
    guard = Utf8Guard.of(tokenizer, len(tokenizer) + 3, "cpu")  # a padded embedding: 3 logits past the vocabulary
    ming, eos = tokenizer("明")["input_ids"][0], tokenizer.eos_token_id
    allowed = {name: ~guard.forbidden[state_of(pending)] for name, pending in
               {"boundary": b"", "after E6": b"\xe6", "after E6 98": b"\xe6\x98", "after E0": b"\xe0",
                "after ED": b"\xed", "after F0 9F": b"\xf0\x9f"}.items()}

    # At a boundary: whole characters, end-of-text and a character's first byte; never a continuation byte.
    assert all(allowed["boundary"][[ming, eos, _byte_token(tokenizer, 0xE6), _byte_token(tokenizer, ord("a"))]])
    continuation = [i for i, piece in enumerate(pieces) if piece and 0x80 <= piece[0] <= 0xBF]
    assert len(continuation) >= 64 and not allowed["boundary"][continuation].any()
    assert not allowed["boundary"][[_byte_token(tokenizer, b) for b in (0xC0, 0xC1, 0xF5, 0xFF)]].any()
    assert allowed["boundary"][-3:].all()

    # Inside a character: only what continues it. Not a new character, not end-of-text, not a logit past the vocabulary.
    for state in ("after E6", "after E6 98", "after F0 9F"):
        assert allowed[state][_byte_token(tokenizer, 0x8E)] and allowed[state][_byte_token(tokenizer, 0xBF)]
        assert not allowed[state][[ming, eos, _byte_token(tokenizer, 0xE6), _byte_token(tokenizer, ord("a"))]].any()
        assert not allowed[state][-3:].any()
        assert all(pieces[i] and 0x80 <= pieces[i][0] <= 0xBF for i in allowed[state][:-3].nonzero().flatten())
    # The second byte's narrower ranges: E0 80 would be overlong, ED A0 a surrogate.
    assert not allowed["after E0"][_byte_token(tokenizer, 0x80)] and allowed["after E0"][_byte_token(tokenizer, 0xA0)]
    assert allowed["after ED"][_byte_token(tokenizer, 0x80)] and not allowed["after ED"][_byte_token(tokenizer, 0xA0)]

    # apply: -inf exactly where a guarded row may not go; an unguarded row keeps its scores.
    scores = torch.zeros(3, len(tokenizer) + 3)
    masked = guard.apply(scores, [state_of(b""), state_of(b"\xe6"), state_of(b"\xe6")], [True, True, False])
    assert torch.equal(torch.isinf(masked[0]), ~allowed["boundary"])
    assert torch.equal(torch.isinf(masked[1]), ~allowed["after E6"])
    assert not torch.isinf(masked[2]).any()


def test_sampling_never_writes_a_broken_character(starter):
    # The untrained starter spreads its probability over every token, byte pieces included: hot sampling without
    # the mask writes broken characters, with it none.
    model, tokenizer = starter
    hot = DecodingConfig(name="hot", do_sample=True, temperature=1.5, max_new_tokens=48, num_samples=6, seed=5)
    raw = generate(model, tokenizer, "明月", [DecodingConfig(**{**hot.to_dict(), "valid_utf8": False})])
    assert any("\ufffd" in s.text for s in raw)
    pieces = token_bytes(tokenizer)
    for sample in generate(model, tokenizer, "明月", [hot]):
        assert "\ufffd" not in sample.text
        written = b"".join(pieces[i] for i in sample.token_ids)
        text, _ = codecs.utf_8_decode(written, "strict", False)  # valid UTF-8, a last character cut off aside
        assert sample.text == text


def test_the_stream_holds_back_an_unfinished_character(starter):
    _, tokenizer = starter
    stream = TextStream(tokenizer)
    # 明 (E6 98 8E) byte by byte, then 月 whole, then the first byte of another character that never completes.
    pieces = [stream.push(_byte_token(tokenizer, b)) for b in "明".encode()]
    assert pieces == ["", "", "明"]
    assert stream.push(tokenizer("月")["input_ids"][0]) == "月" and stream.pending == b""
    assert stream.push(_byte_token(tokenizer, 0xE6)) == "" and stream.pending == b"\xe6"
    assert stream.text() == "明月"  # the cut-off character is left out, not shown as "�"
    assert stream.push(tokenizer.eos_token_id) == ""


def test_token_labels_show_byte_pieces_and_never_look_alike(starter):
    _, tokenizer = starter
    assert token_label(tokenizer, _byte_token(tokenizer, 0xE6)) == "<0xE6>"
    prefix = tokenizer.convert_tokens_to_ids(byte_chars()[0xE6] + byte_chars()[0x98])  # 明's first two bytes
    assert token_label(tokenizer, prefix) == "<0xE6><0x98>"
    assert token_label(tokenizer, tokenizer("明")["input_ids"][0]) == "明"
    assert token_label(tokenizer, tokenizer(" the")["input_ids"][0]) == " the"
    assert token_label(tokenizer, tokenizer.eos_token_id) == "<|endoftext|>"
    labels = [token_label(tokenizer, i) for i in range(len(tokenizer))]
    assert not any("\ufffd" in label for label in labels)
    assert len(set(labels)) == len(labels)  # two candidates in the token view never look the same


def test_candidates_are_labelled(starter):
    model, tokenizer = starter
    config = DecodingConfig(name="raw", do_sample=True, temperature=1.5, max_new_tokens=30, seed=5, valid_utf8=False)
    (sample,) = generate(model, tokenizer, "明月", [config], keep_top=50)
    texts = [c.text for step in sample.steps for c in step.candidates]
    assert not any("\ufffd" in text for text in texts)
    assert all(c.text == token_label(tokenizer, c.token_id) for step in sample.steps for c in step.candidates)
    assert any(text.startswith("<0x") for text in texts)  # byte pieces were among the candidates


def test_a_tokenizer_of_whole_words_streams_by_decoding_and_has_nothing_to_mask():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({"明月": 0, "几时": 1, "有": 2, "[UNK]": 3}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]")
    assert token_bytes(tokenizer) is None and Utf8Guard.of(tokenizer, 4, "cpu") is None
    assert token_label(tokenizer, 1) == "几时"
    stream = TextStream(tokenizer)
    pieces = [stream.push(i) for i in (0, 1, 2)]
    assert "".join(pieces) == stream.text() == tokenizer.decode([0, 1, 2]) and stream.pending == b""
    quiet = TextStream(tokenizer, live=False)
    assert [quiet.push(i) for i in (0, 1, 2)] == ["", "", ""] and quiet.text() == stream.text()


def test_the_mask_leaves_greedy_alone_until_a_character_would_break(starter):
    model, tokenizer = starter
    raw, guarded = (generate(model, tokenizer, PROMPT, [DecodingConfig(max_new_tokens=40, valid_utf8=on)])[0]
                    for on in (False, True))
    forbidden, stream, agree = Utf8Guard.of(tokenizer, len(tokenizer), "cpu").forbidden, TextStream(tokenizer), 0
    for token in raw.token_ids:  # how far the raw greedy row goes before it picks a token the mask forbids
        if forbidden[state_of(stream.pending), token]:
            break
        stream.push(token)
        agree += 1
    assert agree < len(raw.token_ids)  # the untrained starter does break a character here: the mask has work
    assert guarded.token_ids[:agree] == raw.token_ids[:agree]
    assert guarded.token_ids[agree] != raw.token_ids[agree]
    assert "\ufffd" in raw.text and "\ufffd" not in guarded.text
