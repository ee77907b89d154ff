"""The model card of an exported model: README.md in the Hugging Face format (YAML metadata through huggingface_hub's
ModelCardData, not hand-built), the dataset's recipe and report, the training configuration, the loss curve as a PNG,
validation perplexity of the base vs this model, ratings per criterion, and generation_config.json with the decoding
setting that the ratings liked best."""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.data import dataset
from core.errors import UserError
from core.files import read_json_object
from core.models import adapters
from core.ratings import arena
from core.ratings.aggregates import best_setting
from core.train.run_dir import RunDir
from core.workspace import Workspace

LOSS_CURVE = "loss_curve.png"
GENERATION_KEYS = ("do_sample", "temperature", "top_k", "top_p", "repetition_penalty", "no_repeat_ngram_size",
                   "max_new_tokens")


def write(folder: Path, *, name: str, run_dir: Path, model_dir: Path, workspace: Workspace, library: str,
          perplexity: bool = True) -> None:
    # lazy: huggingface_hub takes ~5 ms to import, and only this path needs it
    from huggingface_hub import ModelCard, ModelCardData

    from core.train import runs

    config = read_json_object(RunDir(run_dir).config_file)
    base = adapters.base_name(model_dir) if adapters.is_adapter_dir(model_dir) else config.get("model", "")
    data_dir = _dataset_dir(workspace, config.get("dataset", ""))
    ratings = _ratings(run_dir.name, model_dir.name, name)
    arena = _arena_champion(workspace, name, run_dir.name)  # chosen by blind votes for this very model: it wins
    best = arena or best_setting(ratings)
    if best:
        _generation_config(best["settings"]).save_pretrained(folder)
    drew = loss_curve_png(runs.read_metrics(run_dir), folder / LOSS_CURVE)
    scores = _perplexities(base, name, data_dir, config, workspace) if perplexity and data_dir else []
    data = ModelCardData(
        base_model=base or None, language=_language(data_dir), library_name=library, pipeline_tag="text-generation",
        tags=["quill-lab", "text-generation", *(["lora", "peft"] if library == "peft" or config.get("method") == "lora"
                                                else [])],
        datasets=[data_dir.name] if data_dir else None, metrics=["bits_per_character", "perplexity"] if scores else None,
    )
    body = [f"# {name}", "", f"Fine-tuned from `{base}` with Quill Lab ({config.get('method', 'full')} fine-tuning) "
            f"on the dataset `{config.get('dataset', '')}`.", ""]
    body += _dataset_section(data_dir) + _config_section(config)
    body += ["## Loss curve", "", f"![loss curve]({LOSS_CURVE})", ""] if drew else []
    body += _perplexity_section(scores) + _ratings_section(ratings, best)
    ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body)).save(folder / "README.md")


# ---- parts ----------------------------------------------------------------------------------------------------

def _dataset_dir(workspace: Workspace, name: str) -> Path | None:
    try:
        return dataset.resolve(workspace, name)
    except UserError:
        return None  # the dataset was deleted since: the card says less, the export still works


def _language(data_dir: Path | None) -> list[str] | None:
    """The dataset's language by langid over a slice of its validation text (a card's `language` is ISO 639-1)."""
    # lazy: langid takes ~100 ms to import, and only this path needs it
    import langid

    if data_dir is None:
        return None
    try:
        texts = dataset.read_texts(data_dir, "validation") or dataset.read_texts(data_dir, "data")
    except (OSError, ValueError, KeyError):
        return None
    sample = "\n".join(texts)[:20_000]
    return [langid.classify(sample)[0]] if sample.strip() else None


def _dataset_section(data_dir: Path | None) -> list[str]:
    if data_dir is None:
        return []
    recipe, report = read_json_object(data_dir / "recipe.json"), read_json_object(data_dir / "report.json")
    lines = ["## Training data", "", f"`{data_dir.name}`: {report.get('docs_in', '?')} documents in, "
             f"{report.get('docs_out', '?')} kept after cleaning.", "",
             "| step | enabled | documents in | documents out | changed |", "| --- | --- | --- | --- | --- |"]
    done = {s.get("name"): s for s in report.get("steps", []) if isinstance(s, dict)}
    for step in recipe.get("steps", []):
        if isinstance(step, dict):
            row = done.get(step.get("name"), {})
            lines.append(f"| {step.get('name')} | {step.get('enabled', True)} | {row.get('docs_in', '')} | "
                         f"{row.get('docs_out', '')} | {row.get('changed', '')} |")
    lines += ["", "Recipe:", "", "```json", json.dumps(recipe, ensure_ascii=False, indent=2), "```", ""]
    return lines


def _config_section(config: dict) -> list[str]:
    shown = {k: v for k, v in config.items() if k != "resume_from"}
    return ["## Training configuration", "", "```json", json.dumps(shown, ensure_ascii=False, indent=2), "```", ""]


def _perplexities(base: str, name: str, data_dir: Path, config: dict, workspace: Workspace) -> list[dict]:
    # lazy: numpy takes ~70 ms to import, and only this path needs it
    from core import evaluation

    try:  # the run's block size, so the numbers are the training's own validation blocks
        return evaluation.compare([base, name], str(data_dir), workspace=workspace,
                                  block_size=config.get("block_size"))
    except UserError:
        return []  # the base is not loadable here (an uncached hub model offline): the card leaves the table out


def _perplexity_section(scores: list[dict]) -> list[str]:
    if not scores:
        return []
    # bits per character first: the one column that compares models with different tokenizers
    lines = ["## Validation bits per character and perplexity", "",
             "| model | bits per character | bits per byte | perplexity | mean loss | tokens |",
             "| --- | --- | --- | --- | --- | --- |"]
    for row in scores:
        ppl = f"{row['perplexity']:.2f}" if row.get("perplexity") is not None else "overflow"
        per_char, per_byte = (f"{row[k]:.4f}" if row.get(k) is not None else "–" for k in ("bits_per_char", "bits_per_byte"))
        lines.append(f"| {row['model']} | {per_char} | {per_byte} | {ppl} | {row['mean_nll']:.4f} | {row['tokens']} |")
    return [*lines, ""]


# ---- ratings ----------------------------------------------------------------------------------------------------

def _ratings(run: str, sub: str, name: str) -> list[dict]:
    """The ratings of this model's samples; none when the lab has no database yet (reading never creates it)."""
    # lazy: sqlalchemy takes ~160 ms to import, and only this path needs it
    from core.ratings.store import open_store

    if not os.environ.get("QUILL_DB_URL") and not Workspace.from_env().db_path.exists():
        return []
    names = {name, f"{run}/{sub}"}
    with open_store() as store:
        return [r for r in store.ratings()
                if r.get("model") in names or (r.get("run") == run and r.get("checkpoint") in (sub, name))]


def _arena_champion(workspace: Workspace, *names: str) -> dict | None:
    """The settings arena's champion for this model (core.ratings.arena), as best_setting's shape."""
    if not os.environ.get("QUILL_DB_URL") and not workspace.db_path.exists():
        return None
    for name in names:
        champion = arena.best_setting(name, workspace.db_url)
        if champion:
            return {"config_name": f"settings arena (after {champion['votes']} votes)",
                    "settings": champion["settings"], "score": None}
    return None


def _generation_config(settings: dict):
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers import GenerationConfig

    return GenerationConfig(**{k: settings[k] for k in GENERATION_KEYS if k in settings})


def _ratings_section(ratings: list[dict], best: dict | None) -> list[str]:
    # lazy: numpy takes ~70 ms to import, and only this path needs it
    from core.ratings.aggregates import criterion_summary

    if not ratings:
        return []
    lines = ["## Human ratings", "", "| setting | criterion | n | mean | 95% CI |", "| --- | --- | --- | --- | --- |"]
    for row in criterion_summary(ratings, by="config_name"):
        if row["n"]:
            ci = f"{row['ci_low']:.2f} – {row['ci_high']:.2f}" if row["ci_low"] is not None else ""
            lines.append(f"| {row['config_name']} | {row['criterion']} | {row['n']} | {row['mean']:.2f} | {ci} |")
    if best:
        mean = f" (mean {best['score']:.2f})" if best.get("score") is not None else ""
        lines += ["", f"Best-rated decoding setting: `{best['config_name']}`{mean}, saved as "
                  "generation_config.json:", "", "```json", json.dumps(best["settings"], indent=2), "```"]
    return [*lines, ""]


# ---- the loss curve ---------------------------------------------------------------------------------------------

def loss_curve_png(metrics: list[dict], path: Path, size: tuple[int, int] = (640, 360)) -> bool:
    """Training and validation loss by step as a PNG. Drawn with Pillow: plotly's static export needs kaleido (and
    a Chrome), matplotlib is not a dependency; a two-line chart is a few lines of Pillow. False when no points."""
    # lazy: PIL takes ~10 ms to import, and only this path needs it
    from PIL import Image, ImageDraw

    train = [(m["step"], m["loss"]) for m in metrics if isinstance(m.get("loss"), (int, float))]
    evals = [(m["step"], m["eval_loss"]) for m in metrics if isinstance(m.get("eval_loss"), (int, float))]
    points = train + evals
    if not points:
        return False
    width, height, pad = *size, 48
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points) or 1
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    y1 = y1 if y1 > y0 else y0 + 1

    def at(step, loss):
        x = pad + (step - x0) / ((x1 - x0) or 1) * (width - 2 * pad)
        return x, height - pad - (loss - y0) / (y1 - y0) * (height - 2 * pad)

    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.line([(pad, pad), (pad, height - pad), (width - pad, height - pad)], fill="black")
    draw.text((4, pad - 16), f"loss {y1:.2f}", fill="black")
    draw.text((4, height - pad + 4), f"{y0:.2f}", fill="black")
    draw.text((width - pad - 40, height - pad + 4), f"step {x1}", fill="black")
    if len(train) > 1:
        draw.line([at(*p) for p in train], fill=(31, 119, 180), width=2)
    for p in evals:
        x, y = at(*p)
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=(214, 39, 40))
    draw.text((width - 200, 8), "blue: training   red: validation", fill="black")
    image.save(path, format="PNG")
    return True
