"""A small tokenizer fitted to one dataset, for a model trained from scratch on it in minutes.

The starter's 21,504-token vocabulary exists for Han coverage; in a model of a few hundred thousand weights its
output projection is most of the compute. A vocabulary fitted to the corpus is a few hundred to a few thousand tokens:

- CJK-heavy text: character level (each frequent character one token, Hugging Face `tokenizers` BPE with no merges);
- otherwise: byte-level BPE (`tokenizers`' trainer) with a vocabulary sized by the corpus (`bpe_vocab`).

Both fall back to bytes: the character-level one holds the 256 byte tokens <0x00>..<0xFF> (`byte_fallback`), the
byte-level one is made of bytes, so no character is ever unknown and decoding never gives U+FFFD for text it encoded.
"""

from __future__ import annotations

import math
from collections import Counter

from core.text import han_chars

EOS = "<|endoftext|>"
CJK_SHARE = 0.3  # above this share of Han characters, a corpus is modelled character by character
CHAR_VOCAB = 4096  # at most this many whole characters (the rest go through bytes)
MIN_CHAR_COUNT = 2  # a character seen once is left to its bytes: it would train one embedding row once
BPE_VOCAB = (512, 4096)  # byte-level BPE: 256 bytes, eos and merges, sized by the corpus (bpe_vocab) within these
CHARS_PER_BPE_TOKEN = 500  # a vocabulary entry per ~500 training characters (tinyshakespeare's 1M: 2048)


def is_cjk_heavy(texts: list[str]) -> bool:
    sample = "".join(texts)[:2_000_000]
    letters = sum(1 for c in sample if not c.isspace())
    return bool(letters) and len(han_chars(sample)) / letters > CJK_SHARE


def bpe_vocab(chars: int) -> int:
    """The byte-level BPE vocabulary for a corpus of `chars` characters: a power of two near chars / 500, within
    BPE_VOCAB. Longer tokens carry more characters per step of a budget (measured on tinyshakespeare with 75 s:
    1.83 nats per character with 512 tokens, 1.75 with 1024, 1.72 with 2048 and 4096; BENCHMARKS.md), but each
    entry must be seen often enough to be learnt, so a small corpus keeps a small vocabulary."""
    low, high = BPE_VOCAB
    return int(min(high, max(low, 2 ** round(math.log2(max(chars, 1) / CHARS_PER_BPE_TOKEN)))))


def fit(texts: list[str], *, kind: str = "auto", vocab_size: int | None = None):
    """A PreTrainedTokenizerFast fitted to the texts: kind 'chars', 'bpe' or 'auto' (by the share of Han)."""
    if kind == "auto":
        kind = "chars" if is_cjk_heavy(texts) else "bpe"
    if kind == "chars":
        return _characters(texts, vocab_size or CHAR_VOCAB)
    return _byte_bpe(texts, vocab_size or bpe_vocab(sum(map(len, texts))))


def _characters(texts: list[str], most: int):
    # lazy: tokenizers takes ~10 ms to import, and only this path needs it
    from tokenizers import Tokenizer, decoders, models

    counts = Counter()
    for text in texts:
        counts.update(text)  # a Counter over characters: the whole of character-level "training"
    vocab = {EOS: 0, **{f"<0x{b:02X}>": 1 + b for b in range(256)}}
    for char, count in counts.most_common(most):
        if count >= MIN_CHAR_COUNT:
            vocab.setdefault(char, len(vocab))
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[], byte_fallback=True, unk_token=None))
    tokenizer.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Fuse()])
    return _wrap(tokenizer)


def _byte_bpe(texts: list[str], vocab_size: int):
    # lazy: tokenizers takes ~10 ms to import, and only this path needs it
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS], min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    return _wrap(tokenizer)


def _wrap(tokenizer):
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers import PreTrainedTokenizerFast

    tokenizer.add_special_tokens([EOS])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token=EOS, bos_token=EOS, pad_token=EOS)
