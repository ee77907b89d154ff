"""The model's input for a suggestion: the memory (title, form, instructions) always in front, then as much of the
draft's end as the context holds. The draft is cut from its start, never the memory (KoboldAI's "memory")."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import UserError

SEPARATOR = "\n\n"  # between the memory and the draft, so the memory reads as a heading


@dataclass
class Prompt:
    text: str  # what the model is given: memory, separator, the kept end of the draft
    memory_tokens: int  # what the memory (with its separator) takes of the context
    draft_tokens: int  # what the kept part of the draft takes
    context: int  # the model's context length in tokens
    reserved: int  # kept free for the continuation
    cut_chars: int  # characters dropped from the draft's start (0: the whole draft fits)

    @property
    def draft_start(self) -> int:
        """Where the kept part of the draft starts, in characters."""
        return self.cut_chars


def _count(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"]) if text else 0


def build(tokenizer, memory: str, draft: str, *, context: int, reserve: int) -> Prompt:
    """Memory + the longest end of `draft` whose tokens fit in `context - reserve`.

    The cut falls on a token boundary of the draft's own tokenization (offsets from the fast tokenizer), so no
    character is split; the whole prompt is then counted again, and cut further if joining changed the count.
    """
    head = memory.strip() + SEPARATOR if memory.strip() else ""
    memory_tokens = _count(tokenizer, head)
    room = context - reserve - memory_tokens
    if room < 1:
        raise UserError.coded("memory_too_long", memory=memory_tokens, reserve=reserve, context=context)
    encoded = tokenizer(draft, add_special_tokens=False, return_offsets_mapping=True)
    offsets = encoded["offset_mapping"]
    first = max(0, len(offsets) - room)
    while True:
        start = offsets[first][0] if first < len(offsets) else len(draft)
        if first == 0:
            start = 0
        text = head + draft[start:]
        total = _count(tokenizer, text)
        if total <= context - reserve or first >= len(offsets):
            return Prompt(text, memory_tokens, total - memory_tokens, context, reserve, start)
        first += 1
