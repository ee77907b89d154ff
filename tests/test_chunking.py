"""Chunking: packed and padded blocks, their token accounting, and the block boundaries shown in the preview."""

from __future__ import annotations

import pytest

from core.data.chunking import Chunking, block_boundaries, pack, pad_each, token_lengths, tokenize_documents

EOS = 0
POEMS = [
    "Tide comes in.\nTide goes out.",
    "The gull\nknows nothing\nof tables.",
    "Snow on the jetty,\nsalt on the snow.",
    "窗外下雨，\n灯下读书。",
    "Winter: an inventory\nof one kettle.",
]


@pytest.fixture(scope="module")
def tokenizer(starter_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(starter_dir)


# ---------------------------------------------------------------- by hand, on fake token lists


def test_pack_by_hand():
    docs = [[1, 2, 3], [4, 5], [6, 7, 8, 9]]  # stream: 1 2 3 E 4 5 E 6 7 8 9 E  (12 tokens)
    c = pack(docs, block_size=5, eos_id=EOS)
    assert c.scheme == "packed"
    assert c.blocks == [[1, 2, 3, EOS, 4], [5, EOS, 6, 7, 8]]
    assert (c.useful_tokens, c.padding_tokens, c.truncated_tokens) == (10, 0, 2)  # tail "9 E" dropped
    assert c.padding_fraction == 0.0
    assert pack(docs, block_size=4, eos_id=EOS).truncated_tokens == 0  # 12 tokens fill 3 blocks exactly
    assert pack([[1]], block_size=5, eos_id=EOS).blocks == []


def test_pad_each_by_hand():
    docs = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 10]]
    c = pad_each(docs, block_size=5, pad_id=EOS, eos_id=EOS)  # pad with eos, as for GPT-2
    assert c.scheme == "padded"
    assert c.blocks == [[1, 2, 3, EOS, EOS], [4, EOS, EOS, EOS, EOS], [5, 6, 7, 8, 9]]
    # kept: 3+1, 1+1, 5 (doc of 6 + eos = 7, 2 cut) -> useful 11; padding 1 + 3 + 0 = 4, counted by position
    assert (c.useful_tokens, c.padding_tokens, c.truncated_tokens) == (11, 4, 2)
    assert c.padding_fraction == pytest.approx(4 / 15)
    # A doc of exactly block_size - 1 tokens fits with its eos; one more token and the eos is what is cut.
    assert pad_each([[1, 2, 3, 4]], 5, pad_id=99, eos_id=EOS).blocks == [[1, 2, 3, 4, EOS]]
    assert pad_each([[1, 2, 3, 4, 5]], 5, pad_id=99, eos_id=EOS).truncated_tokens == 1


def test_padding_fraction_of_short_poems_by_hand():
    # Four "poems" of 3, 5, 2 and 6 tokens in blocks of 16: useful 4+6+3+7 = 20 of 64 positions, padding 44.
    poems = [[7] * 3, [7] * 5, [7] * 2, [7] * 6]
    padded = pad_each(poems, 16, pad_id=EOS, eos_id=EOS)
    assert (padded.useful_tokens, padded.padding_tokens, padded.truncated_tokens) == (20, 44, 0)
    assert padded.padding_fraction == 44 / 64
    packed = pack(poems, 16, eos_id=EOS)
    assert (len(packed.blocks), packed.padding_fraction, packed.truncated_tokens) == (1, 0.0, 4)
    assert Chunking("padded", [], 0, 0, 0).padding_fraction == 0.0


def test_boundaries_by_hand():
    docs = [[1, 2, 3], [4, 5], [6, 7, 8, 9]]  # doc spans with eos: [0,4) [4,7) [7,12)
    assert block_boundaries(docs, 5) == [[0], [1], []]  # block 2 starts at global 5 = doc 1 offset 1; 10 is tail
    assert block_boundaries(docs, 4) == [[0], [0], [1]]  # starts 0, 4, 8; 4 is doc 1's first token
    assert block_boundaries([], 4) == []


def test_token_lengths():
    assert token_lengths([[1, 2], [], [3]]) == [2, 0, 1]


def test_block_size_must_be_positive():
    with pytest.raises(ValueError):
        pack([[1]], 0, EOS)


# ---------------------------------------------------------------- with the starter tokenizer


def test_tokenize_documents_adds_nothing_and_does_not_warn_on_long_texts(starter_dir, caplog):
    from transformers import AutoTokenizer

    # The starter's tokenizer sets no length limit; give it GPT-2's, so a long text would trigger the warning.
    tokenizer = AutoTokenizer.from_pretrained(starter_dir, model_max_length=512)
    long_text = "The lighthouse keeper counted the waves. " * 400
    ids = tokenize_documents(tokenizer, ["Tide comes in.", long_text])
    assert len(ids) == 2 and len(ids[1]) > 512
    assert tokenizer.eos_token_id not in ids[0]
    assert tokenizer.decode(ids[0]) == "Tide comes in."
    assert tokenize_documents(tokenizer, []) == []
    assert "longer than the specified maximum" not in caplog.text
    tokenizer([long_text])  # the same call without verbose=False does warn: the check above can see it
    assert "longer than the specified maximum" in caplog.text


def test_pack_keeps_every_token_in_order_with_eos_between_documents(tokenizer):
    from core.data.corpus import sample_texts

    docs = tokenize_documents(tokenizer, sample_texts()[:12])
    eos, size = tokenizer.eos_token_id, 64
    c = pack(docs, size, eos)
    assert c.blocks and all(len(b) == size for b in c.blocks)
    stream = [t for ids in docs for t in (*ids, eos)]
    flat = [t for b in c.blocks for t in b]
    assert flat == stream[: len(flat)]
    assert c.useful_tokens == len(flat) and c.truncated_tokens == len(stream) - len(flat) < size
    assert c.padding_tokens == 0 and c.padding_fraction == 0

    # Boundaries: one per block, and each points at the token the block starts with.
    bounds = block_boundaries(docs, size)
    assert sum(map(len, bounds)) == len(c.blocks)
    starts = []
    for ids, offsets in zip(docs, bounds):
        starts += [(ids + [eos])[o] for o in offsets]
    assert starts == [b[0] for b in c.blocks]
    offset_of_doc = [sum(len(d) + 1 for d in docs[:i]) for i in range(len(docs))]
    assert sorted(o + offset_of_doc[i] for i, offs in enumerate(bounds) for o in offs) == list(range(0, len(flat), size))


def test_pad_each_on_short_poems_wastes_most_of_the_block(tokenizer):
    docs = tokenize_documents(tokenizer, POEMS)
    eos, size = tokenizer.eos_token_id, 128
    c = pad_each(docs, size, pad_id=eos, eos_id=eos)
    assert len(c.blocks) == len(POEMS) and all(len(b) == size for b in c.blocks)
    for ids, block in zip(docs, c.blocks):
        assert block[: len(ids) + 1] == ids + [eos]
    lengths = token_lengths(docs)
    assert c.useful_tokens == sum(lengths) + len(docs)
    assert c.padding_tokens == len(docs) * size - c.useful_tokens
    assert c.truncated_tokens == 0
    assert c.padding_fraction > 0.7

    short = pad_each(docs, 4, pad_id=eos, eos_id=eos)  # every poem is longer than 3 tokens
    assert short.padding_tokens == 0 and short.truncated_tokens == sum(n + 1 - 4 for n in lengths)
    assert [b for b in short.blocks] == [ids[:4] for ids in docs]
