"""Training blocks read from a token file: fixed cuts, and a from-scratch run's shifted windows."""

from __future__ import annotations

import numpy as np
import torch

from core.train.blocks import TokenBlocks


def _blocks(tmp_path, tokens: int = 100, block: int = 10) -> TokenBlocks:
    path = tmp_path / "data.bin"
    np.arange(tokens, dtype=np.uint16).tofile(path)  # token i is the number i: a block shows where it was cut
    return TokenBlocks(path, "uint16", tokens, block)


def test_fixed_blocks_are_the_same_cut_every_time(tmp_path):
    blocks = _blocks(tmp_path)
    assert len(blocks) == 10
    assert blocks[3]["input_ids"].tolist() == list(range(30, 40)) and blocks[3]["labels"][0] == -100


def test_shifted_blocks_draw_new_windows_inside_their_part_and_repeat_under_the_seed(tmp_path):
    head, tail = _blocks(tmp_path).split_tail(2)  # the last 2 blocks held out: tokens 80..99
    shifted = head.shifted()
    assert len(shifted) == len(head) == 8

    def starts() -> list[int]:
        return [int(shifted[i]["input_ids"][0]) for i in range(len(shifted)) for _ in range(20)]

    torch.manual_seed(0)
    first = starts()
    torch.manual_seed(0)
    assert starts() == first  # the Trainer's seed (and a resume's restored generator) decides the windows
    assert len(set(first)) > len(shifted)  # not the same cut each time
    for i in range(len(shifted)):
        ids = shifted[i]["input_ids"].tolist()
        assert ids == list(range(ids[0], ids[0] + 10))  # a contiguous window of the stream
        assert 10 * i <= ids[0] < 10 * (i + 1) and ids[-1] < 80  # near its own cut, never into the held-out tail
    assert shifted[7]["input_ids"].tolist() == list(range(70, 80))  # the last block is never shifted
