"""Keep every row's output valid UTF-8, the way a grammar constraint keeps output in a grammar: at each step a
row may only pick a token whose bytes can follow what it has written.

At a character boundary a token must not start with a continuation byte (nor hold an invalid sequence); inside a
character only tokens that continue it validly are allowed, and not the end-of-text token (it would leave the
character broken). What a row may pick depends only on what the unfinished character still needs: how many
continuation bytes, and the range of the next one (narrower after E0, ED, F0 and F4: Unicode's table 3-7). So
there are eight states, and the allowed tokens of each state are computed once per tokenizer.
"""

from __future__ import annotations

import codecs
import weakref
from typing import TYPE_CHECKING

from core.playground.token_text import token_bytes

if TYPE_CHECKING:
    import torch

# One unfinished character standing for each state; state 0 is the boundary.
STATE_PREFIXES = [b"", b"\xc3", b"\xe6", b"\xe0", b"\xed", b"\xf1", b"\xf0", b"\xf4"]
_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def state_of(pending: bytes) -> int:
    """The state of a row whose unfinished character so far is `pending` (a valid start of one, or empty)."""
    if len(pending) == 1:
        lead = pending[0]
        special = {0xE0: 3, 0xED: 4, 0xF0: 6, 0xF4: 7}
        return special.get(lead, 1 if lead < 0xE0 else 2 if lead < 0xF0 else 5)
    if not pending:
        return 0
    total = 2 if pending[0] < 0xE0 else 3 if pending[0] < 0xF0 else 4
    return total - len(pending)  # past the second byte any continuation byte may follow: state 1 or 2 by what is left


def allowed(prefix: bytes, piece: bytes) -> bool:
    """Whether a token of bytes `piece` may follow the unfinished character `prefix`."""
    if prefix and not piece:
        return False  # an end-of-text (or other empty) token would leave the character broken
    data = prefix + piece
    try:
        _, used = codecs.utf_8_decode(data, "strict", False)  # not final: an unfinished last character is fine
        tail = data[used:]
        if len(tail) >= 2:  # Python judges ED A0 (a surrogate's start) only once complete: complete it to know
            (tail + b"\x80" * ((3 if tail[0] < 0xF0 else 4) - len(tail))).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def allowed_table(pieces: list[bytes]) -> torch.Tensor:
    """(states, tokens) bool: whether each token may come next in each state."""
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    # Most tokens are whole characters: allowed at a boundary, never inside a character; check only the others.
    rows = [[True] * len(pieces)] + [[False] * len(pieces) for _ in STATE_PREFIXES[1:]]
    for token_id, piece in enumerate(pieces):
        try:
            piece.decode("utf-8")
        except UnicodeDecodeError:
            for state, prefix in enumerate(STATE_PREFIXES):
                rows[state][token_id] = allowed(prefix, piece)
    table = torch.tensor(rows, dtype=torch.bool)
    table[~table.any(dim=1)] = True  # a state no token can continue (a vocabulary without byte tokens): no constraint
    return table


class Utf8Guard:
    """The forbidden tokens of each state for one tokenizer, as a (states + 1, logits) tensor on the model's device;
    the extra last row forbids nothing (for rows without the guard)."""

    def __init__(self, forbidden: torch.Tensor):
        self.forbidden = forbidden

    @classmethod
    def of(cls, tokenizer, width: int, device) -> Utf8Guard | None:
        """The guard for a model whose logits are `width` wide; None for a tokenizer that is not byte-level
        (its tokens are whole text: nothing to forbid)."""
        # lazy: torch takes ~1 s to import, and only this path needs it
        import torch

        pieces = token_bytes(tokenizer)
        if pieces is None:
            return None
        if tokenizer not in _TABLES:
            _TABLES[tokenizer] = allowed_table(pieces)
        table = _TABLES[tokenizer]
        # Logits past the tokenizer's vocabulary (a padded embedding) belong to no text: allowed at a boundary only.
        padding = torch.zeros(table.shape[0], max(width - table.shape[1], 0), dtype=torch.bool)
        padding[0] = True
        allowed_tokens = torch.cat([table, padding], dim=1)[:, :width]
        free = torch.ones(1, width, dtype=torch.bool)
        return cls(~torch.cat([allowed_tokens, free]).to(device))

    def apply(self, scores: torch.Tensor, states: list[int], guarded: list[bool]) -> torch.Tensor:
        """`scores` with every token a guarded row may not pick set to -inf; other rows untouched."""
        # lazy: torch takes ~1 s to import, and only this path needs it
        import torch

        free = self.forbidden.shape[0] - 1
        index = torch.tensor([s if on else free for s, on in zip(states, guarded)], device=scores.device)
        return scores.masked_fill(self.forbidden[index], -float("inf"))
