"""`python -m core sample`: continue prompts under several decoding settings."""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import UserError
from core.workspace import Workspace


def register(commands) -> None:
    """Add these commands to `python -m core`'s subparsers."""
    sample = commands.add_parser("sample", help="continue prompts under several decoding settings (one batched decode)")
    sample.add_argument("--model", required=True, help="hub id, 'starter', a run or checkpoint, or a local directory")
    sample.add_argument("--prompt", action="append", help="a prompt (repeat for several)")
    sample.add_argument("--prompt-file", action="append", help="a UTF-8 file whose whole text is one prompt (repeatable)")
    sample.add_argument("--configs", help="a JSON list of decoding settings, each with a name and transformers' "
                        "generation names plus num_samples and seed (default: greedy, top-k 50, top-p 0.9, temperature 1.2)")
    sample.add_argument("--out", required=True, help="the JSONL file to write, one sample per line")
    sample.add_argument("--memorization-data", help="a dataset to check samples against (default: a run's own dataset)")
    sample.set_defaults(run=cmd_sample)


def cmd_sample(args) -> None:
    import json
    import tempfile

    from core import models
    from core.evaluation import sample_stats
    from core.playground import sampling

    prompts = list(args.prompt or [])
    for path in args.prompt_file or []:
        try:  # the whole file is one prompt (as llama.cpp's --file), so a prompt may span lines
            prompts.append(Path(path).read_text(encoding="utf-8").removesuffix("\n"))
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read the prompt file {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    if not prompts:
        raise UserError("no prompt: give --prompt TEXT (repeat it for several) or --prompt-file FILE")
    configs = _read_decoding_configs(args.configs) if args.configs else list(sampling.DEFAULT_CONFIGS)
    out = Path(args.out)
    if out.is_dir():
        raise UserError(f"--out {out} is a directory: name a .jsonl file to write")
    workspace = Workspace.from_env()
    if args.memorization_data:
        from core.data import dataset

        data_dir = dataset.resolve(workspace, args.memorization_data)
    else:
        data_dir = models.training_dataset(args.model, workspace)
    try:
        tokenizer, model = models.load(args.model, workspace)
    except (ValueError, RuntimeError, OSError) as exc:  # a broken model directory: say so in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"could not load model '{args.model}': {first}") from exc
    import torch

    model.to("cuda" if torch.cuda.is_available() else "cpu")
    index = None
    if data_dir is not None:
        from core.evaluation import memorization

        index = memorization.open_index(data_dir)  # built once per dataset, then memory-mapped

    settings = {c.name: c.to_dict() for c in configs}
    records = []
    for prompt in prompts:
        samples = sampling.generate(model, tokenizer, prompt, configs)
        print(f"prompt: {prompt[:60]!r}")
        for sample in samples:
            records.append({
                "prompt": prompt, "model": args.model, "config": sample.config, "settings": settings[sample.config],
                "sample_index": sample.sample_index, "seed": sample.seed, "text": sample.text,
                **sample_stats.stats(sample, index),
                "memorization_data": str(data_dir) if data_dir is not None else None,
            })
            if sample.sample_index == 0:
                print(f"  {sample.config:<16} {sample.text[:60]!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    os.replace(tmp, out)
    checked = f"memorization checked against {data_dir}" if data_dir is not None else "no memorization check"
    print(f"wrote {len(records)} samples ({len(prompts)} prompt(s) x {len(configs)} setting(s)) to {out}; {checked}")

def _read_decoding_configs(path: str) -> list:
    """A JSON list of decoding settings, each an object with a `name` (see `core.playground.sampling.DecodingConfig`)."""
    from core.playground import presets as sampling_presets

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UserError(f"no configs file {path}: write a JSON list of decoding settings") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the configs file {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    return sampling_presets.loads(text, origin=f"the configs file {path}")
