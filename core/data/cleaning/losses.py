"""What a cleaning run lost that a person must hear about before saving: every document, most of the characters,
or a whole file, each named by the step, the rule, how many documents it took and the one setting that keeps them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.data.cleaning.pipeline import CleanResult
from core.data.cleaning.recipe import Recipe

MOST = 0.5  # losing more than this share of the characters is "most" of them
# Copies are not lost text: their original stays. Markup is not text either: characters are counted after
# html_to_text.
DUPLICATES = {"exact_duplicate", "near_duplicate"}
# A file dropped whole is worth asking about when it held this share of the text (or BIG_FILE_CHARS): a 120-byte
# spam page is the filter at work, a novel is not.
FILE_SHARE = 0.05
BIG_FILE_CHARS = 100_000

# Per reason code: the rule (English, formatted with the step's arguments) and the remedy (the setting that keeps
# the documents). The Data page shows the same through `loss.rule.<code>` and `loss.remedy.<code>`.
RULES = {
    "too_long": "over {max_chars} characters",
    "too_short": "under {min_words} words",
    "too_many_symbols": "with more than {max_symbol_ratio} symbols",
    "repeated_lines": "repeating more than {max_duplicate_line_fraction} of their lines",
    "repeated_ngrams": "whose most common 2-gram covers more than {max_top_ngram_fraction} of the text",
    "wrong_language": "not in {languages}",
    "exact_duplicate": "identical to an earlier document",
    "near_duplicate": "at least {threshold} similar to an earlier document",
    "only_boilerplate": "made only of lines repeated across documents",
}
REMEDIES = {
    "too_long": "split the file (--split paragraphs) or raise max_chars",
    "too_short": "lower min_words",
    "too_many_symbols": "raise max_symbol_ratio",
    "repeated_lines": "raise max_duplicate_line_fraction (the verse preset has no limit)",
    "repeated_ngrams": "raise max_top_ngram_fraction (the verse preset has no limit)",
    "wrong_language": "add their language to the language filter's languages, or turn the step off",
    "exact_duplicate": "turn exact_dedup off",
    "near_duplicate": "raise near_dedup's threshold",
    "only_boilerplate": "turn remove_boilerplate_lines off or raise its min_fraction",
}


@dataclass(frozen=True)
class Loss:
    """The documents one step dropped for one reason."""

    step: str
    code: str  # the reason (core.data.cleaning.outcome.Dropped.code)
    documents: int  # how many it dropped
    of: int  # of the documents the step saw
    chars: int  # their characters, as loaded
    values: dict = field(default_factory=dict)  # the step's arguments, for the rule's numbers

    def shown_values(self) -> dict[str, str]:
        """The step's settings as a rule shows them: 1,000,000; 30%; en, zh."""
        def shown(value) -> str:
            if isinstance(value, (list, tuple)):
                return ", ".join(map(str, value))
            if isinstance(value, float) and 0 <= value <= 1:
                return f"{value:.0%}"
            return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)

        return {name: shown(value) for name, value in self.values.items()}

    @property
    def rule(self) -> str:
        try:
            return RULES[self.code].format(**self.shown_values())
        except KeyError:  # a reason this module does not know
            return self.code.replace("_", " ")

    @property
    def remedy(self) -> str:
        return REMEDIES.get(self.code, f"turn {self.step} off or loosen it")

    def message(self) -> str:
        """"quality_filter: 1 of 1 documents over 1,000,000 characters; split the file (...) or raise max_chars"."""
        return f"{self.step}: {self.documents:,} of {self.of:,} documents {self.rule}; {self.remedy}"


@dataclass
class LossReport:
    losses: list[Loss]  # every (step, reason) that dropped documents, the most characters first
    chars_in: int  # the text's characters (after html_to_text), less the copies dropped as duplicates
    chars_out: int
    # files none of whose documents survived (not counting copies of other files) that held FILE_SHARE of the text
    files_dropped: list[str]
    nothing_left: bool

    @property
    def most_chars_lost(self) -> bool:
        return self.chars_in > 0 and self.chars_out < (1 - MOST) * self.chars_in

    @property
    def serious(self) -> bool:
        """Worth asking before saving: everything, most of the characters, or a whole file."""
        return self.nothing_left or self.most_chars_lost or bool(self.files_dropped)

    def messages(self) -> list[str]:
        """One line per fact, then one per loss that explains it: for the command line and the error."""
        lines = []
        if self.nothing_left:
            lines.append("the recipe dropped every document")
        elif self.most_chars_lost:
            lines.append(f"the recipe dropped most of the text: {self.chars_in:,} characters in, "
                         f"{self.chars_out:,} out")
        if self.files_dropped and not self.nothing_left:
            shown = ", ".join(self.files_dropped[:5]) + (" …" if len(self.files_dropped) > 5 else "")
            lines.append(f"{len(self.files_dropped)} files dropped whole: {shown}")
        return lines + [loss.message() for loss in self.losses[:3]]


def report(result: CleanResult, recipe: Recipe, lengths: Sequence[int], sources: Sequence[str],
           files: Sequence[str] = ()) -> LossReport:
    """What `result` lost. `lengths` and `sources` are the input documents'; `files` the names of the files read
    (a document's file is its source, or its source up to its last '#')."""
    chars = Counter()
    for index, code in result.dropped.items():
        chars[code] += lengths[index]
    arguments = {step.name: step.arguments() for step in recipe.enabled_steps()}
    losses = [Loss(step.name, code, n, step.docs_in, chars[code], arguments.get(step.name, {}))
              for step in result.steps for code, n in step.dropped.items()]
    losses.sort(key=lambda loss: (-loss.chars, -loss.documents))
    text_in = next((step.chars_out for step in result.steps if step.name == "html_to_text"), result.chars_in)
    copies = sum(chars[code] for code in DUPLICATES)
    return LossReport(losses, max(text_in - copies, result.chars_out), result.chars_out,
                      _files_dropped(result, sources, set(files), lengths), nothing_left=not result.texts)


def _files_dropped(result: CleanResult, sources: Sequence[str], files: set[str], lengths: Sequence[int]) -> list[str]:
    def file_of(source: str) -> str:
        return source if source in files or "#" not in source else source.rsplit("#", 1)[0]

    kept = Counter(file_of(sources[i]) for i in result.kept)
    dropped = Counter()
    for index, code in result.dropped.items():
        if code not in DUPLICATES:
            dropped[file_of(sources[index])] += lengths[index]
    big = min(BIG_FILE_CHARS, FILE_SHARE * result.chars_in)
    return [name for name, chars in dropped.items() if not kept[name] and chars >= big]


def too_long_files(files, recipe: Recipe) -> list[tuple[str, int, int]]:
    """(name, characters, the limit) of each file read as one document that the quality filter's `max_chars` would
    drop whole: for the preview, which sees only the start of each document and so never shows that drop."""
    step = next((s for s in recipe.enabled_steps() if s.name == "quality_filter"), None)
    limit = step.arguments().get("max_chars") if step else None
    if limit is None:
        return []
    return [(f.name, f.chars, limit) for f in files if not f.error and f.documents == 1 and f.chars > limit]
