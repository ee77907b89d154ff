"""`python -m core sample`: continue prompts under several decoding settings."""

from __future__ import annotations

import json
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
    sample.add_argument("--force", action="store_true", help="replace --out if it exists")
    sample.add_argument("--memorization-data", help="a dataset to check samples against (default: a run's own dataset)")
    sample.add_argument("--stream", action="store_true",
                        help="print the first setting's first sample as it is generated, then the summary")
    sample.set_defaults(run=cmd_sample)


def cmd_sample(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core import models
    from core.files import check_output_file, write_text_atomic
    from core.playground import grid, sampling

    prompts = list(args.prompt or [])
    for path in args.prompt_file or []:
        try:  # the whole file is one prompt (as llama.cpp's --file), so a prompt may span lines
            prompts.append(Path(path).read_text(encoding="utf-8").removesuffix("\n"))
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError.coded("prompt_file_unreadable", path=path, reason=getattr(exc, 'strerror', None) or exc) from exc
    if not prompts:
        raise UserError.coded("no_prompt")
    configs = _read_decoding_configs(args.configs) if args.configs else list(sampling.DEFAULT_CONFIGS)
    workspace = Workspace.from_env()
    out = check_output_file(args.out, workspace, force=args.force)  # before minutes of sampling, not after
    checked_against = None  # the default: a run's own training data
    if args.memorization_data:
        # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
        from core.data import dataset
        from core.evaluation import memorization

        data_dir = dataset.resolve(workspace, args.memorization_data)
        index = memorization.open_index(data_dir)  # built once per dataset, then memory-mapped

        def checked_against(_name: str) -> tuple:
            return str(data_dir), index

    def load(name: str):
        tokenizer, model = models.load(name, workspace)  # every load failure is one UserError there
        # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
        import torch

        return tokenizer, model.to("cuda" if torch.cuda.is_available() else "cpu")

    on_cell = None
    if args.stream:  # the first row (first setting, first sample) of each prompt, whole characters only, as they come
        def on_cell(_model: str, prompt: str):
            print(f"{configs[0].name}: {prompt}", end="", flush=True)
            return lambda row, piece: print(piece, end="", flush=True) if row == 0 else None

        def end_cell(_item) -> None:
            if _item.record.config_name == configs[0].name and _item.record.sample_index == 0:
                print()
    result = grid.generate_grid([args.model], prompts, configs, workspace=workspace, source="cli", load=load,
                                memorization=checked_against, on_cell=on_cell,
                                on_item=end_cell if args.stream else None)
    if result.problems:
        raise UserError(result.problems[0].error)
    for record in result.records:
        if record.config_name == configs[0].name and record.sample_index == 0:
            print(f"prompt: {record.prompt[:60]!r}")
        if record.sample_index == 0:
            print(f"  {record.config_name:<16} {record.text[:60]!r}")
    out.parent.mkdir(parents=True, exist_ok=True)  # one SampleRecord a line: `ratings import` reads it as it is
    write_text_atomic(out, "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in result.records))
    data = result.records[0].stats.get("memorization_data") if result.records else None
    checked = f"memorization checked against {data}" if data is not None else "no memorization check"
    print(f"wrote {len(result.records)} samples ({len(prompts)} prompt(s) x {len(configs)} setting(s)) to {out}; "
          f"{checked}")

def _read_decoding_configs(path: str) -> list:
    """A JSON list of decoding settings, each an object with a `name` (see `core.playground.sampling.DecodingConfig`)."""
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.playground import presets as sampling_presets

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UserError.coded("configs_file_missing", path=path) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError.coded("configs_file_unreadable", path=path, reason=getattr(exc, 'strerror', None) or exc) from exc
    return sampling_presets.loads(text, origin=f"the configs file {path}")
