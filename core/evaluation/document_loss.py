"""The data map: each document's loss under a model, in bits per character, so that mojibake, another language,
boilerplate and near copies stand out as outliers (the Data page's histogram and table).

bits per character = the document's total negative log-likelihood in nats / its characters / ln 2: comparable
across tokenizers (a byte-level tokenizer spends several tokens on a character it never saw). Computed on the
dataset's token files (core.data.tokens: each document followed by eos), in windows of the model's context; the
first window of a document is conditioned on the eos before it, as in training.

Runs in the background like the lab's other long jobs: `python -m core datamap` (started by the page as its own
process) writes progress and then the map to `datasets/<name>/datamap/<model key>.json`, which the page only reads.
The map is cached per (dataset, model): a dataset saved again drops its datamap folder (core.data.dataset.DERIVED),
and the key changes when the model's weights do.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core import models
from core.data import dataset
from core.data.cleaning.steps import document_key
from core.errors import UserError
from core.workspace import Workspace

FOLDER = "datamap"
PARTS = ("data", "validation")  # both parts of the dataset are mapped, in this order
MAX_WINDOW = 512  # tokens per window at most (and the model's context)
BATCH = 8  # windows per forward pass


def document_spans(stream: np.ndarray, eos: int) -> list[tuple[int, int]]:
    """(start, end) in the token stream of each document, its eos excluded: one per document of the part."""
    ends = np.flatnonzero(stream == eos)
    starts = np.concatenate(([0], ends[:-1] + 1)) if len(ends) else np.zeros(0, dtype=np.int64)
    return [(int(s), int(e)) for s, e in zip(starts, ends)]


def document_nll(model, stream: np.ndarray, spans: list[tuple[int, int]], eos: int, *, window: int,
                 batch_size: int = BATCH, progress: Callable[[float], None] | None = None) -> np.ndarray:
    """Each document's summed negative log-likelihood in nats: every token of it predicted from the eos before it
    and its earlier tokens, in windows of `window` inputs (a long document's later windows start afresh)."""
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    pieces = []  # (document, the window's token ids: its first is context only)
    for number, (start, end) in enumerate(spans):
        tokens = np.concatenate(([eos], stream[start:end])).astype(np.int64)
        for at in range(0, len(tokens) - 1, window):
            pieces.append((number, tokens[at:at + window + 1]))
    pieces.sort(key=lambda piece: len(piece[1]))  # similar lengths together: little padding
    totals = np.zeros(len(spans), dtype=np.float64)
    device = next(model.parameters()).device
    model.eval()
    with torch.inference_mode():
        for first in range(0, len(pieces), batch_size):
            batch = pieces[first:first + batch_size]
            width = max(len(ids) for _, ids in batch)
            ids = torch.zeros((len(batch), width), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, (_, piece) in enumerate(batch):
                ids[row, :len(piece)] = torch.from_numpy(piece)
                mask[row, :len(piece)] = 1
            logits = model(input_ids=ids[:, :-1].to(device), attention_mask=mask[:, :-1].to(device)).logits
            losses = torch.nn.functional.cross_entropy(logits.float().transpose(1, 2), ids[:, 1:].to(device),
                                                       reduction="none")
            sums = (losses * mask[:, 1:].to(device)).sum(dim=1).double().cpu().numpy()
            for (number, _), value in zip(batch, sums):
                totals[number] += value
            if progress:
                progress(min(1.0, (first + len(batch)) / len(pieces)))
    return totals


def bits_per_character(nll_nats: np.ndarray, chars: np.ndarray) -> np.ndarray:
    return nll_nats / np.maximum(chars, 1) / math.log(2)


# ---------------------------------------------------------------- the job and its cache


def model_key(model_name: str, workspace: Workspace) -> str:
    """The cache key of a model: its name made safe, and a hash of where it lives and when its weights changed."""
    location = models.resolve(model_name, workspace).location
    weights = [p for p in Path(location).glob("*.safetensors")] + [p for p in Path(location).glob("*.bin")]
    stamp = ",".join(f"{p.name}:{p.stat().st_mtime_ns}" for p in sorted(weights))
    digest = hashlib.sha256(f"{location}|{stamp}".encode()).hexdigest()[:10]
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '_', model_name)[:40]}-{digest}"


def map_path(data_dir: Path, model_name: str, workspace: Workspace) -> Path:
    return Path(data_dir) / FOLDER / f"{model_key(model_name, workspace)}.json"


def read_map(path: Path) -> dict | None:
    """The map or its progress as last written ({"state": "running", "fraction": ...}), or None before any."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write(path: Path, value: dict) -> None:
    """Atomically: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    partial.replace(path)


def compute(dataset_name: str, model_name: str, workspace: Workspace | None = None) -> dict:
    """Map every document of a dataset (both parts) under a model; writes progress and then the map to its cache
    file, and returns the map: per document its part, index, characters, tokens and bits per character."""
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    from core.data import tokens

    workspace = workspace or Workspace.from_env()
    data_dir = dataset.resolve(workspace, dataset_name)
    out = map_path(data_dir, model_name, workspace)
    running = {"state": "running", "model": model_name, "pid": os.getpid()}
    _write(out, {**running, "fraction": 0.0})
    started = time.perf_counter()
    try:
        tokenizer, model = models.load(model_name, workspace)
        model.to("cuda" if torch.cuda.is_available() else "cpu")
        window = min(models.context_length(model.config) or MAX_WINDOW, MAX_WINDOW)
        files = tokens.ensure(data_dir, tokenizer)
        eos = int(files.meta["eos_token_id"])
        rows = []
        for number, part in enumerate(PARTS):
            texts = dataset.read_texts(data_dir, part) if (data_dir / f"{part}.jsonl").is_file() else []
            if not texts:
                continue
            stream = files.stream(part)
            spans = document_spans(stream, eos)
            if len(spans) != len(texts):
                raise UserError.coded("token_file_mismatch", dataset=dataset_name, part=part)

            def progress(fraction: float, number=number) -> None:
                _write(out, {**running, "fraction": (number + fraction) / len(PARTS)})

            nll = document_nll(model, stream, spans, eos, window=window, progress=progress)
            chars = np.array([len(t) for t in texts])
            bits = bits_per_character(nll, chars)
            rows += [{"part": part, "index": i, "chars": int(chars[i]), "tokens": spans[i][1] - spans[i][0],
                      "bits_per_char": round(float(bits[i]), 4), "key": document_key(text)}
                     for i, text in enumerate(texts)]
    except UserError as error:
        _write(out, {"state": "failed", "error": str(error), "model": model_name})
        raise
    result = {"state": "done", "model": model_name, "dataset": data_dir.name, "window": window,
              "seconds": round(time.perf_counter() - started, 1), "documents": rows}
    _write(out, result)
    return result


def start(dataset_name: str, model_name: str, workspace: Workspace) -> Path:
    """`python -m core datamap` in its own process (the page only reads its file); returns the file it writes.
    A map already running or done is not started again."""
    data_dir = dataset.resolve(workspace, dataset_name)
    out = map_path(data_dir, model_name, workspace)
    current = read_map(out) or {}
    if current.get("state") == "done" or (current.get("state") == "running" and _alive(current.get("pid"))):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "QUILL_HOME": str(workspace.root)}
    with (out.parent / f"{out.stem}.log").open("w") as log:
        # its own session: the map goes on when the tab closes or the server restarts, as training does
        job = subprocess.Popen([sys.executable, "-m", "core", "datamap", "--data", str(data_dir), "--model", model_name],
                               stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    _write(out, {"state": "running", "fraction": 0.0, "model": model_name, "pid": job.pid})
    return out


def _alive(pid) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def worst_first(result: dict) -> list[dict]:
    return sorted(result.get("documents", []), key=lambda row: -row["bits_per_char"])


def exclude(dataset_name: str, keys: list[str], new_name: str, workspace: Workspace | None = None, *,
            overwrite: bool = False) -> dict:
    """Save the dataset again as `new_name` without the documents whose keys are given (both parts, split anew),
    with the exclusion in its recipe (the exclude_documents step, on, holding the keys): cleaning the same files
    with that recipe leaves them out again. Returns dataset.save's summary."""
    # lazy: numpy takes ~70 ms to import, and only this path needs it
    from core.data.cleaning.recipe import Recipe

    workspace = workspace or Workspace.from_env()
    data_dir = dataset.resolve(workspace, dataset_name)
    if not keys:
        raise UserError.coded("nothing_to_exclude")
    texts = [t for part in PARTS if (data_dir / f"{part}.jsonl").is_file() for t in dataset.read_texts(data_dir, part)]
    unwanted = set(keys)
    kept = [t for t in texts if document_key(t) not in unwanted]
    try:
        saved = json.loads((data_dir / "recipe.json").read_text(encoding="utf-8"))
        recipe = Recipe.from_dict(saved) if saved.get("steps") else Recipe.default()
    except (OSError, ValueError, UserError):  # a dataset saved without a readable recipe: the default one's terms
        recipe = Recipe.default()
    step = recipe.step("exclude_documents")
    step.enabled = True
    step.params = {"keys": sorted(set(step.params.get("keys", ())) | unwanted)}
    report = {**dataset.read_report(data_dir), "excluded": {"from": data_dir.name, "documents": len(texts) - len(kept)}}
    report.pop("split", None)
    return dataset.save(workspace.datasets_dir / dataset.check_name(new_name), kept, recipe=recipe.to_dict(),
                        report=report, overwrite=overwrite)
