"""`python -m core bench <what>`: throughput figures measured on this machine, printed as one JSON object.

Corpora are generated from the project's own sample corpus (sentences recombined with a fixed seed), so every
machine measures the same kind of text and no download is needed.
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections import Counter
from pathlib import Path

import psutil

from core.data.corpus import SAMPLE_DIR, manifest
from core.errors import UserError
from core.hardware import detect
from core.text import CJK_WORD_RANGES

_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")


def _sentences() -> list[str]:
    """Sentences of the sample corpus's plain-text files, leaving out those planted with mojibake or junk."""
    pool = []
    for entry in manifest():
        if entry["format"] in ("txt", "md") and not {"mojibake", "junk"} & set(entry.get("planted", [])):
            text = (SAMPLE_DIR / entry["file"]).read_bytes().decode(entry["encoding"])
            pool += [s.strip() for s in _SENTENCE_END.split(text) if len(s.strip()) > 10]
    return pool


def generated_corpus(megabytes: float, seed: int = 0, doc_chars: int = 2500) -> list[str]:
    """Documents of recombined sample sentences, in paragraphs, until the corpus holds `megabytes` of UTF-8."""
    rng, pool = random.Random(seed), _sentences()
    docs, size, target = [], 0, int(megabytes * 1e6)
    while size < target:
        paragraphs, length = [], 0
        while length < doc_chars:
            paragraph = " ".join(rng.choice(pool) for _ in range(rng.randint(2, 6)))
            paragraphs.append(paragraph)
            length += len(paragraph)
        doc = "\n\n".join(paragraphs)
        docs.append(doc)
        size += len(doc.encode("utf-8"))
    return docs


_TOKEN = re.compile(f"[{CJK_WORD_RANGES}]|[^\\W{CJK_WORD_RANGES}]+")  # a CJK character, or a run of other \w


def article_f1(page: str, extracted: str) -> float:
    """Bag-of-tokens F1 of the text extracted from a sample page against the text of its <article>, where the
    sample pages hold their story (tokens: words, and each CJK character alone)."""
    # lazy: selectolax takes ~10 ms to import, and only this path needs it
    from selectolax.lexbor import LexborHTMLParser

    gold = Counter(_TOKEN.findall(LexborHTMLParser(page).css_first("article").text(separator=" ")))
    got = Counter(_TOKEN.findall(extracted))
    common = sum((gold & got).values())
    if not common:
        return 0.0
    precision, recall = common / sum(got.values()), common / sum(gold.values())
    return 2 * precision * recall / (precision + recall)


def real_pages(folder: str) -> list[str]:
    """The saved pages (*.htm, *.html) under `folder`, decoded as the Data page decodes an HTML file."""
    # lazy: charset_normalizer takes ~20 ms to import, and only this path needs it
    from core.data.decoding import decode

    root = Path(folder)
    if not root.is_dir():
        raise UserError.coded("bench_html_dir_missing", folder=folder)
    paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".htm", ".html") and p.is_file())
    if not paths:
        raise UserError.coded("bench_html_dir_empty", folder=folder)
    pages = []
    for path in paths:
        try:
            pages.append(decode(path.read_bytes(), html=True).text)
        except UserError as err:
            raise UserError.coded("bench_html_unreadable", path=path, reason=err) from None
    return pages


def _timed_extraction(pages: list[str], workers: int):
    """The pipeline's main-content extraction over `pages`: its result, wall seconds and CPU seconds (this process
    and its worker processes, which the pool has ended by the time clean() returns)."""
    # lazy: numpy takes ~70 ms to import, and only this path needs it
    from core.data.cleaning.pipeline import clean
    from core.data.cleaning.recipe import Recipe, StepConfig

    before, started = _cpu_seconds(), time.perf_counter()
    result = clean(Recipe([StepConfig("html_to_text", params={"mode": "extract"})]), pages, workers=workers)
    seconds = time.perf_counter() - started
    return result, seconds, _cpu_seconds() - before


def _cpu_seconds() -> float:
    """CPU seconds of this process and of every process under it, with the children each has ended: the cleaning
    workers are forked by multiprocessing's fork server (a child of this one, which stays), not by this process."""
    me, total = psutil.Process(), 0.0
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:  # a worker that ended meanwhile: its parent has counted it
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


class _PeakMemory:
    """The largest resident memory of this process and every process under it together (the fork server, the
    cleaning workers) while a run lasts, sampled every 0.1 s (more often costs the run itself CPU)."""

    def __enter__(self):
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(psutil.Process(),), daemon=True)
        self._thread.start()
        return self

    def _sample(self, me) -> None:
        while True:
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            self.peak = max(self.peak, total)
            if self._stop.wait(0.1):
                return

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def bench_clean(plain_mb: float = 50, html_mb: float = 5, preview_mb: float = 100, html_dir: str | None = None) -> dict:
    """Throughput of the default recipe on plain text, of main-content extraction on the sample pages (and on the
    real pages of `html_dir`, when given: the sample pages are small, so trafilatura's fixed cost per page weighs
    more there than on pages saved from the web), and the preview's answer time."""
    # lazy: numpy takes ~70 ms to import, and only this path needs it
    from core.data.cleaning.pipeline import clean, preview
    from core.data.cleaning.recipe import Recipe

    real = real_pages(html_dir) if html_dir is not None else None  # a wrong folder fails before the long runs
    workers = min(2, os.cpu_count() or 1)
    plain = generated_corpus(plain_mb)
    cpu_before, started = _cpu_seconds(), time.perf_counter()
    with _PeakMemory() as memory:
        result = clean(Recipe.default(), plain, workers=workers)
    plain_seconds = time.perf_counter() - started
    plain_cpu = _cpu_seconds() - cpu_before

    pages = [(SAMPLE_DIR / e["file"]).read_text(encoding=e["encoding"]) for e in manifest() if e["format"] == "html"]
    html = [pages[i % len(pages)] for i in range(int(html_mb * 1e6 / (sum(map(len, pages)) / len(pages))))]
    html_mb_in = sum(len(p.encode("utf-8")) for p in html) / 1e6
    extracted, html_seconds, html_cpu = _timed_extraction(html, workers)
    html_f1 = sum(map(article_f1, html[: len(pages)], extracted.texts[: len(pages)])) / len(pages)

    big = plain * max(1, round(preview_mb / plain_mb))  # repeats are fine: the preview samples
    started = time.perf_counter()
    preview(Recipe.default(), big)
    preview_seconds = time.perf_counter() - started

    hardware = detect()
    figures = {
        "plain_mb_per_s": round(sum(len(d.encode("utf-8")) for d in plain) / 1e6 / plain_seconds, 2),
        "plain_mb": round(sum(len(d.encode("utf-8")) for d in plain) / 1e6, 1),
        "plain_docs_in": result.docs_in,
        "plain_docs_out": len(result.texts),
        "plain_cpu_s": round(plain_cpu, 2),  # this process and its workers
        "plain_peak_rss_mb": round(memory.peak / 2**20),  # this process and its workers together, corpus included
        "html_mb_per_s": round(html_mb_in / html_seconds, 2),
        "html_mb_per_cpu_s": round(html_mb_in / html_cpu, 2),
        "html_pages": len(html),
        "html_f1": round(html_f1, 4),
    }
    if real is not None:
        # Repeated up to html_mb, as the sample pages are: a few pages alone would time one process and its
        # imports (under 2 M characters, the pipeline does not start workers), not the throughput of a corpus.
        sizes = [len(p.encode("utf-8")) / 1e6 for p in real]
        timed, real_mb = [], 0.0
        while len(timed) < len(real) or real_mb < html_mb:
            timed.append(real[len(timed) % len(real)])
            real_mb += sizes[(len(timed) - 1) % len(real)]
        page_mb = sum(sizes) / len(real)
        _, real_seconds, real_cpu = _timed_extraction(timed, workers)
        figures.update({
            "html_real_mb_per_s": round(real_mb / real_seconds, 2),
            "html_real_mb_per_cpu_s": round(real_mb / real_cpu, 2),
            "html_real_pages": len(real),
            "html_real_mb": round(real_mb, 1),
            "html_real_page_kb": round(page_mb * 1e3, 1),
        })
    return {
        **figures,
        "preview_seconds": round(preview_seconds, 3),
        "preview_corpus_mb": round(sum(len(d.encode("utf-8")) for d in big) / 1e6, 1),
        "workers": workers,
        "machine": f"{hardware.cpu_name}, {hardware.cpu_cores} cores",
    }
