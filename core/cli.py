"""`python -m core <command>`: the lab on the command line.

Each command prints a short human summary, writes its outputs as files, and on bad input exits non-zero
with one line `error: <what is wrong and what to do>`, never a traceback (set QUILL_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from core.errors import UserError
from core.workspace import Workspace


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own prints usage first; the contract is one line
        raise UserError(f"{message} (see `{self.prog} --help`)")


def cmd_starter(args) -> None:
    from core.models.starter import StarterConfig, build_starter, is_built

    out = Path(args.out) if args.out else Workspace.from_env().starter_dir
    if is_built(out) and not args.force:
        print(f"starter model already built at {out} (use --force to rebuild)")
        return
    started = time.perf_counter()
    info = build_starter(out, StarterConfig(seed=args.seed))
    print(
        f"starter model built at {out}: {info['parameters'] / 1e6:.1f}M parameters, "
        f"vocabulary {info['vocab_size']}, in {time.perf_counter() - started:.0f} s"
    )


def cmd_clean(args) -> None:
    from core.data import dataset
    from core.data.cleaning.fidelity import measure
    from core.data.cleaning.pipeline import clean
    from core.data.cleaning.recipe import Recipe
    from core.data.loading import LoadOptions, field_names, load_paths

    dataset.check_writable(Path(args.out), args.overwrite)  # refused before the cleaning, not after it
    if args.recipe and args.preset:
        raise UserError("give --recipe or --preset, not both: a preset is a recipe")
    recipe = Recipe.load(args.recipe) if args.recipe else Recipe.preset(args.preset) if args.preset else Recipe.default()
    options = LoadOptions(txt_split=args.split, csv_column=args.csv_column)
    if args.text_field:
        options.text_fields = field_names(args.text_field)
    # Any path: the command line's user names files they could read in a shell anyway. The server is what
    # must stay inside the allowed folders (pages/data.py passes them).
    loaded = load_paths(args.inputs, options, allowed_roots=None)
    for file in loaded.files:
        if file.error:
            print(f"skipped {file.name}: {file.error}")
        elif file.warning:
            print(f"note {file.name}: {file.warning}")
    if not loaded.documents:
        raise UserError("no documents could be read from the input: see the skipped files above")
    started = time.perf_counter()
    result = clean(
        recipe, [d.text for d in loaded.documents], [d.source for d in loaded.documents],
        workers=args.workers or min(2, os.cpu_count() or 1),
    )
    report = {**result.report(), "files": [f.summary() for f in loaded.files]}
    summary = dataset.save(Path(args.out), result.texts, recipe=recipe.to_dict(), report=report,
                           ratio=args.validation_ratio, seed=args.seed, overwrite=args.overwrite)
    print(
        f"cleaned {len(loaded.files)} files in {time.perf_counter() - started:.1f} s: {result.docs_in} documents in, "
        f"{len(result.texts)} kept ({result.chars_in:,} → {result.chars_out:,} characters)"
    )
    for step in result.steps:
        dropped = ", ".join(f"{code} {n}" for code, n in step.dropped.items())
        print(f"  {step.name:<26} {step.docs_in:>7} → {step.docs_out:<7} docs  {step.changed:>6} changed  {dropped}")
        for line, documents in list(step.removed_lines.items())[:10]:
            print(f"    removed from {documents} documents: {line}")
    print(f"  {measure([d.text for d in loaded.documents], result).summary()}")
    print(
        f"saved to {args.out}: {summary['train_documents']} training and {summary['validation_documents']} "
        f"validation documents (split by {summary['by']})"
    )


def cmd_bench(args) -> None:
    import json

    from core.bench import clean as bench
    from core.bench import sample as bench_sample
    from core.bench import train as bench_train

    train_options = {k: getattr(args, k) for k in ("model", "random_init", "precision", "steps", "batch_size", "block_size")}
    figures = {"clean": bench.bench_clean, "train": lambda: bench_train.bench_train(**train_options),
               "sample": bench_sample.bench_sample, "scale": lambda: _bench_scale(args.sizes)}[args.what]()
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        for name, value in figures.items():
            print(f"{name}: {value}")


def _bench_scale(sizes: str | None) -> dict:
    from core.bench import scale

    if sizes is None:
        return scale.bench_scale()
    try:
        chosen = [float(size) for size in sizes.split(",")]
    except ValueError:
        chosen = []
    if not chosen or min(chosen) <= 0:
        raise UserError(f"--sizes {sizes!r}: give corpus sizes in MB separated by commas, such as 5,50,200")
    return scale.bench_scale([int(size) if size.is_integer() else size for size in chosen])


def cmd_train(args) -> None:
    from dataclasses import replace

    from core.train import runs
    from core.train.config import TrainConfig, apply_preset

    workspace = Workspace.from_env()
    config = TrainConfig.load(args.config) if args.config else TrainConfig()
    if args.preset:
        config = apply_preset(config, args.preset)
    options = {
        "dataset": args.data, "model": args.model, "max_steps": args.max_steps, "epochs": args.epochs,
        "learning_rate": args.learning_rate, "batch_size": args.batch_size, "grad_accum": args.grad_accum,
        "block_size": args.block_size, "eval_steps": args.eval_steps, "seed": args.seed, "device": args.device,
        "precision": args.precision, "num_processes": args.num_processes,
        "compile": args.compile, "optim": args.optim, "tf32": args.tf32, "attn_implementation": args.attn_implementation,
        "dataloader_workers": args.dataloader_workers, "nodes": args.nodes, "node_rank": args.node_rank,
        "main_process_ip": args.main_process_ip, "main_process_port": args.main_process_port,
    }
    config = replace(config, **{k: v for k, v in options.items() if v is not None})
    run_dir = runs.start(workspace, config, name=args.name)
    print(run_dir)
    if args.detach:
        print(f"training in the background: `python -m core runs` shows it, `python -m core stop {run_dir.name}` stops it")
        return
    _follow(run_dir)


def _follow(run_dir: Path) -> None:
    """Print the run's progress until it ends; Ctrl-C leaves it training."""
    from core.train import runs

    printed = 0
    try:
        while True:
            status = runs.status(run_dir)
            metrics = runs.read_metrics(run_dir)
            for line in metrics[printed:]:
                if line.get("eval_loss") is not None:
                    perplexity = f"{line['perplexity']:.1f}" if line.get("perplexity") is not None else "∞"
                    print(f"step {line['step']}: validation loss {line['eval_loss']:.3f} (perplexity {perplexity})")
                elif line.get("loss") is not None:
                    print(f"step {line['step']}: loss {line['loss']:.3f}, {line.get('tokens_per_s') or 0:,.0f} tokens/s")
            printed = len(metrics)
            if runs.ended(status):
                break
            time.sleep(1)
    except KeyboardInterrupt:
        print(f"\nthe run goes on in the background: `python -m core stop {run_dir.name}` stops it")
        return
    if status["state"] != runs.COMPLETED:
        raise UserError(f"run {run_dir.name} ended {status['state']}: {status.get('error') or 'see train.log'}")
    print(f"completed: final model in {run_dir / 'final'}")


def cmd_runs(args) -> None:
    import json

    from core.train import runs

    listed = runs.list_runs(Workspace.from_env())
    if args.json:
        print(json.dumps(listed, default=str))
        return
    if not listed:
        print("no runs yet: start one with `python -m core train --data DATASET --model starter`")
    for run in listed:
        best = run.get("best_eval_loss")
        state = f"{run['state']} ({run['error']})" if run["state"] == runs.UNREADABLE else run["state"]
        print(f"{run['id']:<44} {state:<10} {run.get('model') or '':<20} step {run.get('step') or 0}/"
              f"{run.get('max_steps') or '?'}  best {best if best is not None else '–'}")


def cmd_stop(args) -> None:
    from core.train import runs

    run_dir = _run_dir(args.run_name)
    runs.stop(run_dir)
    print(f"asked {run_dir.name} to stop: it saves a checkpoint, then ends as 'stopped'")


def cmd_resume(args) -> None:
    from core.train import runs

    run_dir = _run_dir(args.run_name)
    note = runs.resume(run_dir, args.checkpoint)
    print(run_dir)
    print(note)
    if not args.detach:
        _follow(run_dir)


def _run_dir(name: str) -> Path:
    return Workspace.from_env().run_dir(name)  # a run id, never a path: "no such run" otherwise


def cmd_model(args) -> None:
    from core import models

    source = models.resolve(args.name)
    started = time.perf_counter()
    tokenizer, model = models.load(args.name)
    print(
        f"{args.name}: {source.kind} model at {source.location}, {model.num_parameters() / 1e6:.1f}M parameters, "
        f"vocabulary {len(tokenizer)}, context {model.config.max_position_embeddings} tokens, "
        f"loaded in {time.perf_counter() - started:.1f} s"
    )


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
        from core.data import dataset

        index = sample_stats.CorpusIndex(dataset.read_texts(data_dir, "data"))

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


def cmd_eval(args) -> None:
    import json

    from core import evaluation

    result = evaluation.perplexity(args.model, args.data, block_size=args.block_size)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    perplexity = f"{result['perplexity']:.2f}" if result["perplexity"] is not None else "too large to show"
    print(f"{args.model} on {args.data} ({result['split']}): perplexity {perplexity} (mean loss "
          f"{result['mean_nll']:.4f}) over {result['tokens']:,} predicted tokens in {result['blocks']} blocks of "
          f"{result['block_size']}")


def cmd_ratings(args) -> None:
    from core.ratings import io as ratings_io
    from core.ratings.store import open_store

    with open_store() as store:
        if args.action == "export":
            fmt = args.format or ("jsonl" if Path(args.out).suffix.lower() in (".jsonl", ".ndjson") else "csv")
            rows = ratings_io.export(store, fmt, args.out)
            print(f"exported {rows} rating{'s' if rows != 1 else ''} with their samples' provenance to {args.out}")
        else:
            done = ratings_io.import_file(store, args.file)
            print(f"imported {done['samples']} samples and {done['ratings']} ratings from {args.file}")


def cmd_hardware(args) -> None:
    from core.hardware import detect, format_bytes

    hw = detect()
    print(f"CPU: {hw.cpu_name}, {hw.cpu_cores} cores")
    print(f"RAM: {format_bytes(hw.ram_available_bytes)} free of {format_bytes(hw.ram_total_bytes)}")
    for gpu in hw.gpus:
        print(f"GPU {gpu.index}: {gpu.name}, {format_bytes(gpu.free_bytes)} free of {format_bytes(gpu.total_bytes)}")
    if hw.mps:
        print("Apple MPS available")
    if hw.accelerator == "cpu":
        print("no GPU: training runs on the CPU, slowly")


def build_parser() -> argparse.ArgumentParser:
    from core.data.cleaning.presets import PRESETS
    from core.data.loading import LoadOptions

    load_defaults = LoadOptions()  # the Data page's defaults too
    parser = _Parser(prog="python -m core", description="Quill Lab on the command line.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    starter = commands.add_parser("starter", help="build the small offline starter model (tokenizer + GPT-2)")
    starter.add_argument("--out", help="directory to build into (default: the workspace's models/starter)")
    starter.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default 0)")
    starter.add_argument("--force", action="store_true", help="rebuild even if it is already there")
    starter.set_defaults(run=cmd_starter)

    clean = commands.add_parser("clean", help="clean raw text files into a dataset directory")
    clean.add_argument("inputs", nargs="+", metavar="INPUT", help="files or folders (txt, md, html, jsonl, json, csv, zip)")
    clean.add_argument("--out", required=True, help="the dataset directory to write")
    clean.add_argument("--recipe", help="a recipe JSON file (default: the default recipe)")
    clean.add_argument("--preset", choices=list(PRESETS), help="start from the recipe preset for a kind of text")
    clean.add_argument("--split", choices=["whole", "paragraphs", "lines"], default=load_defaults.txt_split,
                       help="how a .txt becomes documents (default: one per file)")
    clean.add_argument("--text-field", action="append", metavar="FIELD",
                       help="JSON/JSONL field(s) holding the text, joined in order: repeat it or give a comma list "
                            f"(default: {', '.join(load_defaults.text_fields)}, those present)")
    clean.add_argument("--csv-column", default=load_defaults.csv_column,
                       help=f"CSV column holding the text (default: {load_defaults.csv_column})")
    clean.add_argument("--validation-ratio", type=float, default=0.1, help="share kept for validation (default 0.1)")
    clean.add_argument("--seed", type=int, default=0, help="seed of the validation split (default 0)")
    clean.add_argument("--workers", type=int, help="processes for the per-document steps (default: 2 or the cores)")
    clean.add_argument("--overwrite", action="store_true", help="replace the output directory if it holds a dataset")
    clean.set_defaults(run=cmd_clean)

    train = commands.add_parser("train", help="fine-tune a model on a dataset (a run in the workspace)")
    train.add_argument("--data", help="a dataset name in the workspace, or a dataset directory")
    train.add_argument("--model", help="hub id, 'starter', a run or checkpoint, or a local directory")
    train.add_argument("--config", help="a run configuration JSON file (a run's config.json)")
    train.add_argument("--preset", choices=["quick_cpu", "gpt2_one_gpu", "gpt2_medium_24gb"], help="start from a preset")
    train.add_argument("--max-steps", type=int)
    train.add_argument("--epochs", type=float)
    train.add_argument("--learning-rate", type=float, help="default: 1e-3 for the untrained starter, 5e-5 otherwise")
    train.add_argument("--batch-size", type=int)
    train.add_argument("--grad-accum", type=int)
    train.add_argument("--block-size", type=int)
    train.add_argument("--eval-steps", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--device", help="auto, cpu, cuda:N or all")
    train.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"])
    train.add_argument("--num-processes", type=int, help="with --device all: processes (DDP)")
    train.add_argument("--name", help="the run's name (default: model, dataset and time)")
    train.add_argument("--detach", action="store_true", help="start it and return at once")
    train.add_argument("--compile", choices=["auto", "on", "off"], help="torch.compile (auto: on CUDA)")
    train.add_argument("--optim", help="optimizer, a transformers name (auto: adamw_torch_fused)")
    train.add_argument("--tf32", choices=["auto", "on", "off"], help="TF32 matmuls (auto: on Ampere and later GPUs)")
    train.add_argument("--attn-implementation", choices=["auto", "sdpa", "eager"], help="attention (auto: sdpa on CUDA)")
    train.add_argument("--dataloader-workers", type=int, help="batch-loading processes (-1 auto: CUDA up to 4, CPU 0)")
    train.add_argument("--nodes", type=int, help="machines in the run (each runs this command with its --node-rank)")
    train.add_argument("--node-rank", type=int, help="this machine's rank, 0 to nodes-1 (0 logs the metrics)")
    train.add_argument("--main-process-ip", help="with --nodes: the address of the node of rank 0")
    train.add_argument("--main-process-port", type=int, help="with --nodes: a free port on node 0 (default 29500)")
    train.set_defaults(run=cmd_train)

    runs_parser = commands.add_parser("runs", help="list the runs and their state")
    runs_parser.add_argument("--json", action="store_true", help="one JSON list")
    runs_parser.set_defaults(run=cmd_runs)

    stop = commands.add_parser("stop", help="stop a run (it saves a checkpoint first)")
    stop.add_argument("run_name", metavar="RUN", help="the run's id (see `python -m core runs`)")
    stop.set_defaults(run=cmd_stop)

    resume = commands.add_parser("resume", help="continue a stopped or crashed run from a checkpoint")
    resume.add_argument("run_name", metavar="RUN", help="the run's id (see `python -m core runs`)")
    resume.add_argument("--checkpoint", help="a checkpoint directory (default: the latest)")
    resume.add_argument("--detach", action="store_true")
    resume.set_defaults(run=cmd_resume)

    model = commands.add_parser("model", help="check that a model name loads, and describe it")
    model.add_argument("name", help="hub id (gpt2, uer/gpt2-chinese-cluecorpussmall), 'starter', a run or a directory")
    model.set_defaults(run=cmd_model)

    sample = commands.add_parser("sample", help="continue prompts under several decoding settings (one batched decode)")
    sample.add_argument("--model", required=True, help="hub id, 'starter', a run or checkpoint, or a local directory")
    sample.add_argument("--prompt", action="append", help="a prompt (repeat for several)")
    sample.add_argument("--prompt-file", action="append", help="a UTF-8 file whose whole text is one prompt (repeatable)")
    sample.add_argument("--configs", help="a JSON list of decoding settings, each with a name and transformers' "
                        "generation names plus num_samples and seed (default: greedy, top-k 50, top-p 0.9, temperature 1.2)")
    sample.add_argument("--out", required=True, help="the JSONL file to write, one sample per line")
    sample.add_argument("--memorization-data", help="a dataset to check samples against (default: a run's own dataset)")
    sample.set_defaults(run=cmd_sample)

    evaluate = commands.add_parser("eval", help="perplexity of a model on a dataset's validation split (packed blocks)")
    evaluate.add_argument("--model", required=True, help="hub id, 'starter', a run or checkpoint, or a local directory")
    evaluate.add_argument("--data", required=True, help="a dataset name in the workspace, or a dataset directory")
    evaluate.add_argument("--block-size", type=int, help="tokens per block (default: the model's context, at most 512)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(run=cmd_eval)

    bench = commands.add_parser("bench", help="measure throughput on this machine")
    bench.add_argument("what", choices=["clean", "train", "sample", "scale"], help="what to measure")
    bench.add_argument("--sizes", help="scale: corpus sizes in MB, comma-separated (default 5,50,200)")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--model", default="starter", help="train: the model (default: the starter)")
    bench.add_argument("--random-init", action="store_true", help="train: the named architecture with random weights")
    bench.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"], help="train: precision")
    bench.add_argument("--steps", type=int, default=30, help="train: measured steps (after 5 warm-up steps)")
    bench.add_argument("--batch-size", type=int, default=8, help="train: blocks per step")
    bench.add_argument("--block-size", type=int, default=128, help="train: tokens per block")
    bench.set_defaults(run=cmd_bench)

    ratings = commands.add_parser("ratings", help="export the ratings, or import samples and ratings (CSV or JSONL)")
    ratings_actions = ratings.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=_Parser)
    ratings_export = ratings_actions.add_parser("export", help="every rating with its sample's provenance")
    ratings_export.add_argument("--format", choices=["csv", "jsonl"],
                                help="csv (UTF-8 with BOM, for Excel) or jsonl (default: from --out's extension, else csv)")
    ratings_export.add_argument("--out", required=True, help="the file to write")
    ratings_import = ratings_actions.add_parser("import", help="samples (model, prompt, text, ...) with optional ratings")
    ratings_import.add_argument("file", metavar="FILE", help="a .csv or .jsonl file")
    ratings.set_defaults(run=cmd_ratings)

    hardware = commands.add_parser("hardware", help="what this machine can train on")
    hardware.set_defaults(run=cmd_hardware)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "run", None):
            parser.print_help()
            return 2
        args.run(args)
        return 0
    except UserError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line, whatever the message held
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the contract: one line, never a traceback
        if os.environ.get("QUILL_DEBUG"):
            raise
        first_line = (str(exc).strip().splitlines() or [""])[0]
        print(f"error: unexpected {type(exc).__name__}: {first_line} (rerun with QUILL_DEBUG=1 for details)", file=sys.stderr)
        return 1
