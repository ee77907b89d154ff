"""Export a run's model as a standalone folder: the weights (a LoRA merged into them, or the adapter with its hub
base's name), the tokenizer, a Hugging Face model card (README.md), the loss curve and generation_config.json with
the best-rated decoding setting. The folder loads with plain `AutoModelForCausalLM.from_pretrained(DIR)`.

    python -m core export RUN[/checkpoint-N] --out DIR [--merge]
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core import models
from core.errors import UserError
from core.files import check_replaceable, staged_directory
from core.models import adapters
from core.workspace import Workspace

MARKER = ".quill-export.json"  # what the export wrote: lets a later export replace this folder, and nothing else
PHASES = ("load", "save", "card", "zip")  # what `on_phase` is told, in order (a folder export has no "zip")


@dataclass(frozen=True)
class Exported:
    out: Path
    merged: bool  # a LoRA merged into the weights (or a full fine-tune): no peft needed to load it
    adapter: bool  # the run trained a LoRA adapter
    files: list[str]


def run_of(name: str, workspace: Workspace) -> tuple[Path, Path]:
    """(run directory, model directory) of `RUN` or `RUN/checkpoint-N`; anything else is a UserError."""
    source = models.resolve(name, workspace)
    location = Path(source.location).resolve()
    runs_dir = workspace.runs_dir.resolve()
    run_dir = next((p for p in (location, *location.parents) if p.parent == runs_dir), None)
    if source.kind != "run" or run_dir is None:
        raise UserError.coded("export_not_run", name=name)
    return run_dir, location


def export(name: str, out: Path, *, merge: bool = False, workspace: Workspace | None = None,
           perplexity: bool = True, on_phase: Callable[[str], None] | None = None) -> Exported:
    """Write the standalone folder `out` for the run model `name`; refuses a folder holding files it did not write.

    `on_phase(phase)` is called as each of PHASES begins: an export takes a minute, and says what it is doing.
    """
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.publish import model_card

    on_phase = on_phase or (lambda phase: None)
    workspace = workspace or Workspace.from_env()
    out = Path(out)
    run_dir, model_dir = run_of(name, workspace)
    check_replaceable(out, foreign_files)  # before minutes of loading and measuring, not after
    adapter = adapters.is_adapter_dir(model_dir)
    base = adapters.base_name(model_dir) if adapter else None
    if adapter and not merge and not models.resolve(base, workspace).is_hub:
        raise UserError.coded("export_needs_merge", base=base)
    with staged_directory(out, foreign_files) as staging:
        on_phase("load")
        tokenizer, model = models.load(name, workspace)  # a LoRA comes merged (peft's merge_and_unload)
        on_phase("save")
        if adapter and not merge:
            _copy_adapter(model_dir, staging)
        else:
            model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        del model
        on_phase("card")
        model_card.write(staging, name=name, run_dir=run_dir, model_dir=model_dir, workspace=workspace,
                         library="peft" if adapter and not merge else "transformers", perplexity=perplexity)
        if not adapter or merge:
            _stop_at_end_of_text(staging, tokenizer)
        files = sorted(p.name for p in staging.iterdir())
        (staging / MARKER).write_text(json.dumps({"model": name, "files": files}, indent=2), encoding="utf-8")
    return Exported(out, merged=not adapter or merge, adapter=adapter, files=files)


def _stop_at_end_of_text(folder: Path, tokenizer) -> None:
    """generation_config.json names the tokenizer's end-of-text token (and pads with it when there is no pad):
    without it, a plain `model.generate` writes on past `<|endoftext|>` to max_new_tokens."""
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from transformers import GenerationConfig

    if tokenizer.eos_token_id is None:
        return
    try:
        generation = GenerationConfig.from_pretrained(folder)
    except OSError:  # none written (no rated setting, a model config without one)
        generation = GenerationConfig()
    generation.eos_token_id = tokenizer.eos_token_id
    generation.bos_token_id = generation.bos_token_id if generation.bos_token_id is not None else tokenizer.bos_token_id
    if generation.pad_token_id is None:
        generation.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    generation.save_pretrained(folder)


def _copy_adapter(model_dir: Path, staging: Path) -> None:
    """The adapter as trained; its base is a hub id (checked by the caller), which peft loads anywhere."""
    for name in (adapters.ADAPTER_CONFIG, adapters.ADAPTER_WEIGHTS):
        shutil.copyfile(model_dir / name, staging / name)


def foreign_files(path: Path) -> list[str]:
    """The entries of `path` that an export did not write: all of them unless it holds an export."""
    names = sorted(p.name for p in Path(path).iterdir())
    try:
        written = json.loads((Path(path) / MARKER).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return names
    return [n for n in names if n != MARKER and n not in written] if isinstance(written, list) else names


def export_zip(name: str, *, merge: bool = True, workspace: Workspace | None = None,
               on_phase: Callable[[str], None] | None = None) -> bytes:
    """The exported folder as zip bytes (the Train page's download button)."""
    with tempfile.TemporaryDirectory(prefix="quill-export-") as tmp:
        folder = Path(tmp) / "model"
        export(name, folder, merge=merge, workspace=workspace, on_phase=on_phase)
        if on_phase:
            on_phase("zip")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(folder.iterdir()):
                if file.name != MARKER:
                    archive.write(file, f"{folder.name}/{file.name}")
        return buffer.getvalue()


def cmd_export(args) -> None:
    """`python -m core export RUN[/checkpoint-N] --out DIR [--merge]`."""
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the command prints its own one-line summary
    result = export(args.model, Path(args.out), merge=args.merge, perplexity=not args.no_perplexity)
    kind = ("merged LoRA" if result.adapter else "full model") if result.merged else "LoRA adapter"
    print(f"exported {args.model} ({kind}) to {result.out}: {', '.join(result.files)}")


def register(commands) -> None:
    export_parser = commands.add_parser("export", help="write a run's model as a standalone folder with a model card")
    export_parser.add_argument("model", help="a run, or RUN/checkpoint-N")
    export_parser.add_argument("--out", required=True, help="the folder to write (new, empty, or an earlier export)")
    export_parser.add_argument("--merge", action="store_true", help="merge a LoRA adapter into the weights")
    export_parser.add_argument("--no-perplexity", action="store_true", help="skip measuring base vs this model")
    export_parser.set_defaults(run=cmd_export)
