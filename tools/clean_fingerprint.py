"""A fingerprint of what cleaning makes of real corpora, to show that a change to the cleaning code (a faster path)
changed no output: run it before and after, and compare the two files.

    .venv/bin/python tools/clean_fingerprint.py OUT.json [--shared ../shared/data]

Per case (a corpus, a recipe, 1 or 2 workers): a hash of the cleaned texts, of the kept and dropped documents with
their reasons, and of the report (every step's counts, the boilerplate lines it removed). The cases: the bench's
generated 50 MB corpus, the same with exact and near copies planted, the sample corpus, and ../shared/data
(web pages, Chinese verse, Shakespeare whole and cut into paragraphs and lines) with the default recipe and the
preset made for each. Small corpora are also cut into small chunks, so that they take the parallel path too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from pathlib import Path

from core.bench.clean import generated_corpus
from core.data.cleaning import pipeline
from core.data.cleaning.recipe import Recipe
from core.data.corpus import SAMPLE_DIR
from core.data.loading import LoadOptions, load_paths


def _digest(result) -> str:
    h = hashlib.sha256()
    for part in (result.texts, result.kept, sorted(result.dropped.items()), result.report()):
        h.update(json.dumps(part, ensure_ascii=False, sort_keys=True).encode("utf-8"))
    return h.hexdigest()[:20]


def _with_copies(texts: list[str]) -> list[str]:
    """The texts with exact copies (whitespace and case changed) and near copies (a word changed) planted."""
    rng = random.Random(7)
    out = list(texts)
    for _ in range(len(texts) // 6):
        text = rng.choice(texts)
        out.insert(rng.randrange(len(out)), text.upper().replace(" ", "  ") if rng.random() < 0.5
                   else text.replace(" the ", " a ", 1))
    return out


def _cases(shared: Path):
    bench = generated_corpus(50)
    yield "bench50", bench, ["default"]
    yield "bench-copies", _with_copies(bench[:4000]), ["default", "prose", "web"]
    yield "sample", load_paths([SAMPLE_DIR], allowed_roots=None).texts, ["default", "web", "verse", "prose"]
    if shared.is_dir():
        yield "html", load_paths([shared / "html"], allowed_roots=None).texts, ["default", "web"]
        yield "zh-poetry", load_paths([shared / "zh-poetry"], allowed_roots=None).texts, ["default", "verse"]
        for split in ("whole", "paragraphs", "lines"):
            texts = load_paths([shared / "tinyshakespeare.txt"], LoadOptions(txt_split=split), allowed_roots=None).texts
            yield f"plays-{split}", texts, ["default", "plays"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--shared", default="../shared/data")
    args = parser.parse_args()
    fingerprints = {}
    chunk_chars = pipeline.CHUNK_CHARS
    for name, texts, recipes in _cases(Path(args.shared)):
        texts = list(texts)
        for recipe in recipes:
            for workers, chunk in ((1, chunk_chars), (2, chunk_chars), (2, 50_000)):
                pipeline.CHUNK_CHARS = chunk  # small chunks: a small corpus takes the parallel path too
                result = pipeline.clean(Recipe.default() if recipe == "default" else Recipe.preset(recipe), texts,
                                        workers=workers)
                fingerprints[f"{name} {recipe} workers={workers} chunk={chunk}"] = _digest(result)
                print(name, recipe, workers, chunk, len(texts), len(result.texts), flush=True)
    pipeline.CHUNK_CHARS = chunk_chars
    Path(args.out).write_text(json.dumps(fingerprints, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
