"""Training blocks sliced out of a dataset's memory-mapped token file (core.data.tokens), as a torch Dataset.

Item i is block `first + i` of the packed stream: input_ids, and labels equal to them with the first one masked
(-100). Position i predicts label i+1, so the first label is never a target; the Trainer divides the summed loss by
the count of labels != -100, and leaving it in would report every loss (block-1)/block too low. Every block is full:
no attention mask, no padding.

Shifted blocks (`shifted()`, a from-scratch run's training blocks) start a random 0..block-1 tokens later each time
they are drawn, as nanoGPT draws its windows: over many epochs of a small corpus the model sees new windows rather
than the same cut learnt by heart (zh-poetry, 2 minutes: 5.28 nats per character fixed, 5.12 shifted; BENCHMARKS.md). The last block is never
shifted: its tokens would run into whatever follows (a held-out tail).

The file is opened lazily in each process: a DataLoader worker gets a pickled Dataset (a path and numbers, not a
mapping) and maps the file itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset


class TokenBlocks(Dataset):
    def __init__(self, path: Path, dtype: str, tokens: int, block_size: int, first: int = 0, count: int | None = None,
                 shift: bool = False):
        self.path, self.dtype, self.tokens, self.block_size = Path(path), dtype, tokens, block_size
        self.first = first
        self.count = tokens // block_size - first if count is None else count
        self.shift = shift
        self._stream = None

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.count:
            raise IndexError(index)
        if self._stream is None:
            self._stream = np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.tokens,))
        start = (self.first + index) * self.block_size
        if self.shift and index < self.count - 1:
            start += int(torch.randint(self.block_size, ()))  # torch's generator: seeded, and restored on resume
        ids = torch.from_numpy(self._stream[start:start + self.block_size].astype(np.int64))
        labels = ids.clone()
        labels[0] = -100
        return {"input_ids": ids, "labels": labels}

    def shifted(self) -> TokenBlocks:
        return TokenBlocks(self.path, self.dtype, self.tokens, self.block_size, self.first, self.count, shift=True)

    def split_tail(self, count: int) -> tuple[TokenBlocks, TokenBlocks]:
        """(the first blocks, the last `count` blocks): a held-out tail when there is no validation split."""
        head = TokenBlocks(self.path, self.dtype, self.tokens, self.block_size, self.first, self.count - count)
        tail = TokenBlocks(self.path, self.dtype, self.tokens, self.block_size, self.first + self.count - count, count)
        return head, tail

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_stream": None}  # workers map the file themselves


def from_token_files(files, part: str, block_size: int) -> TokenBlocks:
    """The packed blocks of one part ("data" or "validation") of a dataset's TokenFiles."""
    # lazy: numpy takes ~70 ms to import, and only this path needs it
    from core.data.tokens import PARTS

    return TokenBlocks(files.path / f"{PARTS[part]}.bin", files.meta["dtype"], files.meta["tokens"][part], block_size)
