"""How documents become model-length blocks of token ids: packed (run_clm.py style) or one padded block each.

Plain lists and itertools on purpose: the Data page previews a sample that is already in memory, and a
`datasets.map` pass would add a cache on disk and worker start-up for a few hundred documents. The trainer can
run the same functions over the whole dataset, or reproduce them with `datasets.map` in batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate, chain


@dataclass
class Chunking:
    scheme: str  # "packed" or "padded"
    blocks: list[list[int]]  # token ids, every block exactly block_size long
    useful_tokens: int  # non-padding tokens kept (document tokens and their eos)
    padding_tokens: int
    truncated_tokens: int  # tokens lost: cut by truncation (padded) or in the dropped tail (packed)

    @property
    def padding_fraction(self) -> float:
        total = self.useful_tokens + self.padding_tokens  # == len(blocks) * block_size
        return self.padding_tokens / total if total else 0.0


def tokenize_documents(tokenizer, texts: list[str]) -> list[list[int]]:
    """Token ids of each text, no special tokens, one batched call of the fast tokenizer.

    verbose=False: a long document is expected here (it gets cut into blocks later), so the
    "Token indices sequence length is longer than the specified maximum" warning would only mislead.
    """
    if not texts:
        return []
    return tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]


def token_lengths(token_lists: list[list[int]]) -> list[int]:
    return [len(ids) for ids in token_lists]


def pack(token_lists: list[list[int]], block_size: int, eos_id: int) -> Chunking:
    """Concatenate the documents, each followed by eos, and cut into full blocks; the partial tail is dropped."""
    _check_block_size(block_size)
    stream = list(chain.from_iterable(chain(ids, (eos_id,)) for ids in token_lists))
    full = len(stream) // block_size * block_size
    blocks = [stream[i : i + block_size] for i in range(0, full, block_size)]
    return Chunking("packed", blocks, useful_tokens=full, padding_tokens=0, truncated_tokens=len(stream) - full)


def pack_texts(tokenizer, texts: list[str], block_size: int) -> list[list[int]]:
    """The packed blocks of these texts, as the trainer and the perplexity evaluation see them."""
    return pack(tokenize_documents(tokenizer, texts), block_size, tokenizer.eos_token_id).blocks


def pad_each(token_lists: list[list[int]], block_size: int, pad_id: int, eos_id: int) -> Chunking:
    """One block per document: its tokens and eos, truncated to block_size, then padded with pad_id.

    Padding is counted by position, not by id: GPT-2 has no pad token, so callers pass eos as pad_id.
    """
    _check_block_size(block_size)
    blocks: list[list[int]] = []
    useful = padding = truncated = 0
    for ids in token_lists:
        kept = list(chain(ids, (eos_id,)))[:block_size]
        truncated += len(ids) + 1 - len(kept)
        useful += len(kept)
        padding += block_size - len(kept)
        blocks.append(kept + [pad_id] * (block_size - len(kept)))
    return Chunking("padded", blocks, useful_tokens=useful, padding_tokens=padding, truncated_tokens=truncated)


def block_boundaries(token_lists: list[list[int]], block_size: int) -> list[list[int]]:
    """For each document, the token offsets inside it where a block of `pack` starts.

    A document owns its tokens and the eos after it, so an offset equal to len(document) means a block starts
    at that eos. Only full blocks count, as in `pack`: together the lists hold one offset per packed block.
    """
    _check_block_size(block_size)
    spans = [len(ids) + 1 for ids in token_lists]  # each document with its eos
    ends = list(accumulate(spans))
    end_of_blocks = (ends[-1] if ends else 0) // block_size * block_size  # where the dropped tail begins
    out = []
    for span, end in zip(spans, ends):
        start = end - span
        first = -(-start // block_size) * block_size  # the first block start at or after this document's start
        out.append([g - start for g in range(first, min(end, end_of_blocks), block_size)])
    return out


def _check_block_size(block_size: int) -> None:
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
