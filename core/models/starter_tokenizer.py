"""The starter's tokenizer: GPT-2's byte-level BPE in which every common Han character is one token.

Byte-level BPE never meets unknown text, but a Han character is three (or four) bytes, and a few thousand merges
learned from a small corpus leave most characters in byte pieces: a model then writes half characters. So the
merges are made in two stages, both plain BPE merges in one list (no added tokens, so words build on characters):

1. characters: for each common character (`core.text.common_han`) and each Han character of the training texts,
   the merges that join its bytes left to right. They come first in the list, so BPE, which always applies the
   earliest merge it can, makes every such character whole before anything else;
2. words: the `tokenizers` BPE trainer learns merges from the training texts in which those characters are already
   single symbols (each stands for its byte string while training), so what it learns applies on top of stage 1.
"""

from __future__ import annotations

import json

from core.errors import UserError
from core.text import byte_chars, common_han, han_chars

EOS = "<|endoftext|>"  # the end-of-text token, as GPT-2 names it


def train_tokenizer(texts: list[str], vocab_size: int):
    """Stage 1 for the common and the texts' Han characters, then learned merges until the vocabulary holds
    `vocab_size` tokens (fewer if the texts run out of pairs). Deterministic: the same texts, the same tokenizer."""
    # lazy: transformers, tokenizers take ~660 ms to import, and only this path needs them
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Tokenizer

    byte_char = byte_chars()
    chars = sorted(set(common_han()) | {c for text in texts for c in han_chars(text)})
    spelled = {c: "".join(byte_char[b] for b in c.encode("utf-8")) for c in chars}
    steps = {spelling[:i] for spelling in spelled.values() for i in range(2, len(spelling))}  # on the way: 明's E6 98
    alphabet = [byte_char[b] for b in range(256)] + chars
    fixed = 1 + len(alphabet) + len(steps)
    if vocab_size <= fixed:
        raise UserError.coded("starter_vocab_small", vocab_size=vocab_size, fixed=fixed)

    learner = Tokenizer(models.BPE())
    learner.pre_tokenizer = pre_tokenizers.WhitespaceSplit()  # the words below never hold a real space
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - len(steps), min_frequency=1, special_tokens=[EOS], initial_alphabet=alphabet,
        limit_alphabet=len(alphabet), show_progress=False,
    )
    learner.train_from_iterator((_symbol_words(text, spelled, byte_char) for text in texts), trainer)
    learned = json.loads(learner.to_str())["model"]
    expand = str.maketrans(spelled)

    vocab: dict[str, int] = {}
    merge_list: list[tuple[str, str]] = []
    for token in sorted(learned["vocab"], key=learned["vocab"].get):
        vocab.setdefault(token.translate(expand), len(vocab))
    for spelling in spelled.values():  # stage 1: each character's bytes, joined left to right
        for i in range(2, len(spelling) + 1):
            merge_list.append((spelling[: i - 1], spelling[i - 1]))
            vocab.setdefault(spelling[:i], len(vocab))
    merge_list = list(dict.fromkeys(merge_list))  # characters sharing their first bytes share those merges
    merge_list += [(a.translate(expand), b.translate(expand)) for a, b in learned["merges"]]
    return GPT2Tokenizer(vocab=vocab, merges=merge_list, add_prefix_space=False)


def _symbol_words(text: str, spelled: dict[str, str], byte_char: dict[int, str]) -> str:
    """`text` split as GPT-2 splits it (ByteLevel's regex), each word in byte characters except the characters of
    `spelled`, which stay one symbol each; words separated by spaces."""
    # lazy: tokenizers takes ~10 ms to import, and only this path needs it
    from tokenizers import pre_tokenizers

    split = pre_tokenizers.ByteLevel(add_prefix_space=False).pre_tokenize_str(text)
    return " ".join(
        "".join(c if c in spelled else "".join(byte_char[b] for b in c.encode("utf-8")) for c in text[start:end])
        for _, (start, end) in split
    )
