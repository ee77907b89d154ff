"""`python -m core bench load`: the loader's peak memory per corpus byte, and its speed, on corpora of several kinds.

Each corpus is written to a file, then loaded as the Data page and `clean` load it (`load_paths`, .txt cut into
paragraphs) in a fresh interpreter whose own peak RSS (VmHWM, `core.bench.peak`) is measured; an interpreter that
only imports the loader gives the base subtracted. Corpora: the generated mixed English/Chinese corpus
(`core.bench.clean.generated_corpus`) at two sizes, English prose with typographic quotes and dashes (the generated
corpus's English sentences: one ’ makes a Python str 2 bytes a character), and for each of `paths`: a text file
repeated (tinyshakespeare: short speeches, many documents), or a folder's documents (zh-poetry) repeated as plain
text, as JSONL ({"text": ...} a line) and as CSV (a "text" column). Speeds are per wall second and per CPU second of
the loading process: on a shared machine the second is the steadier figure.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from core.bench.clean import _sentences, generated_corpus

MIXED_MB = (50, 200)
MEGABYTES = 100  # each of the other corpora

# In a fresh interpreter: load the file as the Data page does, print the seconds and what came of it.
LOAD = ("import json, sys, time; from pathlib import Path; from core.data.loading import LoadOptions, load_paths\n"
        "started, cpu = time.perf_counter(), time.process_time()\n"
        "result = load_paths([Path(sys.argv[1])], LoadOptions(txt_split='paragraphs'), allowed_roots=None)\n"
        "print(json.dumps({'seconds': time.perf_counter() - started, 'cpu_seconds': time.process_time() - cpu, "
        "'documents': len(result.documents), "
        "'errors': [f.error for f in result.files if f.error]}))")
LOAD_NOTHING = "import core.data.loading"


def bench_load(megabytes: float = MEGABYTES, mixed_mb: Iterable[float] = MIXED_MB,
               paths: list[str] | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="quill-bench-load-") as tmp:
        corpora = write_corpora(Path(tmp), megabytes, mixed_mb, paths or [])
        base = peak_rss_bytes(["-c", LOAD_NOTHING])[0]
        rows = []
        for name, path in corpora:
            rows.append({"corpus": name, **measure(path, base)})
            path.unlink()  # the next corpus's files need the disk more than this one
    return {"corpora": rows, "base_rss_mb": round(base / 1e6, 1), "cpus": os.cpu_count()}


def measure(path: Path, base: int) -> dict:
    """Load `path` in a fresh interpreter: its peak RSS over the interpreter's own `base`, per byte of the file."""
    peak, out = peak_rss_bytes(["-c", LOAD, str(path)])
    figures = json.loads(out)
    if figures["errors"]:
        raise RuntimeError(f"{path.name} did not load: {figures['errors'][0]}")
    size = path.stat().st_size
    return {"corpus_mb": round(size / 1e6, 1), "documents": figures["documents"],
            "load_peak_rss_mb": round(peak / 1e6, 1), "load_rss_per_corpus_byte": round((peak - base) / size, 2),
            "load_mb_per_s": round(size / 1e6 / figures["seconds"], 1),
            "load_mb_per_cpu_s": round(size / 1e6 / figures["cpu_seconds"], 1)}


def peak_rss_bytes(command: list[str]) -> tuple[int, str]:
    """Run `python -m core.bench.peak FILE <command>`: its peak resident memory in bytes and what it printed."""
    with tempfile.TemporaryDirectory(prefix="quill-peak-") as tmp:
        report = Path(tmp) / "peak"
        done = subprocess.run([sys.executable, "-m", "core.bench.peak", str(report), *command], capture_output=True,
                              text=True)
        if done.returncode != 0 or not report.is_file():
            raise RuntimeError(f"{' '.join(command[:2])} failed with exit code {done.returncode}: {done.stderr[-500:]}")
        return int(report.read_text(encoding="ascii")), done.stdout


def write_corpora(folder: Path, megabytes: float, mixed_mb: Iterable[float],
                  paths: list[str]) -> list[tuple[str, Path]]:
    """(name, file) of each corpus, written under `folder`."""
    corpora = []
    for size in mixed_mb:
        corpora.append((f"generated mixed English/Chinese, {size:g} MB",
                        _write_text(folder / f"mixed-{size:g}.txt", generated_corpus(size), size)))
    corpora.append(("English, typographic quotes", _write_text(folder / "english.txt", _english(), megabytes)))
    for given in map(Path, paths):
        if given.is_file():
            text = given.read_text(encoding="utf-8").strip()
            corpora.append((f"{given.name} repeated", _write_text(folder / given.name, [text], megabytes)))
            continue
        # lazy: charset_normalizer takes ~20 ms to import, and only this path needs it
        from core.data.loading import load_paths

        docs = [d.text for d in load_paths([given], allowed_roots=None).documents]
        corpora += [(f"{given.name} as plain text", _write_text(folder / f"{given.name}.txt", docs, megabytes)),
                    (f"{given.name} as JSONL", _write_jsonl(folder / f"{given.name}.jsonl", docs, megabytes)),
                    (f"{given.name} as CSV", _write_csv(folder / f"{given.name}.csv", docs, megabytes))]
    return corpora


def _english(seed: int = 0, paragraphs: int = 2000) -> list[str]:
    """Paragraphs of the sample corpus's English sentences, with the typographic quotes and dashes of edited prose."""
    pool = [s for s in _sentences() if s.isascii()]
    rng = random.Random(seed)
    return [_typographic(" ".join(rng.choice(pool) for _ in range(rng.randint(2, 6))), rng) for _ in range(paragraphs)]


def _typographic(text: str, rng: random.Random) -> str:
    text = re.sub(r'"([^"]*)"', "“\\1”", text).replace("'", "’")
    return text.replace(", ", " — ", 1) if rng.random() < 0.5 else text


def _repeated(docs: list[str], megabytes: float) -> Iterable[str]:
    """The documents in turn, again and again, until about `megabytes` of UTF-8 were given."""
    size, target = 0, megabytes * 1e6
    while size < target:
        for doc in docs:
            yield doc
            size += len(doc.encode("utf-8")) + 2
            if size >= target:
                return


def _write_text(path: Path, docs: list[str], megabytes: float) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for doc in _repeated(docs, megabytes):
            f.write(doc + "\n\n")
    return path


def _write_jsonl(path: Path, docs: list[str], megabytes: float) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for doc in _repeated(docs, megabytes):
            f.write(json.dumps({"text": doc}, ensure_ascii=False) + "\n")
    return path


def _write_csv(path: Path, docs: list[str], megabytes: float) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text"])
        writer.writerows([doc] for doc in _repeated(docs, megabytes))
    return path
