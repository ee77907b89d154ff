"""`python -m core bench | hardware`: what this machine can do."""

from __future__ import annotations

import json

from core.errors import UserError


def register(commands) -> None:
    """Add these commands to `python -m core`'s subparsers."""
    bench = commands.add_parser("bench", help="measure throughput on this machine")
    bench.add_argument("what", choices=["clean", "train", "sample", "index", "scale", "tokenize", "load", "preferences",
                                        "arena", "quality"],
                       help="what to measure")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--html-dir", help="clean: a folder of saved web pages (*.htm, *.html) to time extraction on "
                       "as well (html_real_*)")
    bench.add_argument("--model", default="starter", help="train: the model (default: the starter)")
    bench.add_argument("--random-init", action="store_true", help="train: the named architecture with random weights")
    bench.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"], help="train: precision")
    bench.add_argument("--steps", type=int, default=30, help="train: measured steps (after 5 warm-up steps)")
    bench.add_argument("--batch-size", type=int, default=8, help="train: blocks per step")
    bench.add_argument("--block-size", type=int, default=128, help="train: tokens per block")
    bench.add_argument("--compile", default="auto", choices=["auto", "on", "off"],
                       help="train: torch.compile our trainer's model (auto: on CUDA)")
    bench.add_argument("--megabytes", type=float,
                       help="index, tokenize: size of the generated corpus (default 50, 20); load: of each corpus "
                            "but the generated mixed ones (default 100)")
    bench.add_argument("--paths", nargs="+",
                       help="tokenize, load: real text files or folders to time as well (load: a file is repeated, "
                            "a folder's documents are written as txt, JSONL and CSV); preferences: the chinese-poetry "
                            "JSON of 宋词 to fine-tune on")
    bench.add_argument("--sizes", help="scale: corpus sizes in MB, comma-separated (default 5,50,200); load: sizes of "
                                       "the generated mixed corpus (default 50,200)")
    bench.add_argument("--data", help="quality: a dataset name or directory, or a text file (split 90/10 as nanoGPT)")
    bench.add_argument("--minutes", type=float, default=2.0, help="quality: the training budget in minutes")
    bench.set_defaults(run=cmd_bench)

    hardware = commands.add_parser("hardware", help="what this machine can train on")
    hardware.set_defaults(run=cmd_hardware)


def _bench_preferences(paths):
    from core.bench.preferences import bench_preferences  # DPO on a scripted rater's votes (issue 26)

    return bench_preferences(paths)


def _bench_arena():
    from core.bench.preferences import bench_arena  # the settings arena against a scripted rater (issue 26)

    return bench_arena()


def cmd_bench(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.bench import clean as bench
    from core.bench import index as bench_index
    from core.bench import load as bench_load
    from core.bench import sample as bench_sample
    from core.bench import tokenize as bench_tokenize
    from core.bench import train as bench_train

    train_options = {k: getattr(args, k) for k in ("model", "random_init", "precision", "steps", "batch_size", "block_size",
                                                 "compile")}
    figures = {"clean": lambda: bench.bench_clean(html_dir=args.html_dir), "train": lambda: bench_train.bench_train(**train_options),
               "sample": bench_sample.bench_sample, "index": lambda: bench_index.bench_index(args.megabytes or 50),
               "tokenize": lambda: bench_tokenize.bench_tokenize(args.megabytes or 20, args.paths),
               "scale": lambda: _bench_scale(args.sizes),
               "preferences": lambda: _bench_preferences(args.paths),
               "arena": _bench_arena,
               "quality": lambda: _bench_quality(args),
               "load": lambda: bench_load.bench_load(args.megabytes or bench_load.MEGABYTES,
                                                     _sizes(args.sizes) or bench_load.MIXED_MB, args.paths),
               }[args.what]()
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        for name, value in figures.items():
            print(f"{name}: {value}")


def _bench_quality(args) -> dict:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.bench.quality import bench_quality

    if not args.data:
        raise UserError.coded("bench_quality_needs_data")
    return bench_quality(args.data, args.minutes)


def _bench_scale(sizes: str | None) -> dict:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.bench import scale

    chosen = _sizes(sizes)
    return scale.bench_scale(chosen) if chosen else scale.bench_scale()


def _sizes(sizes: str | None) -> list[float] | None:
    """--sizes as numbers of MB (whole ones as ints, for the corpus names), None when not given."""
    if sizes is None:
        return None
    try:
        chosen = [float(size) for size in sizes.split(",")]
    except ValueError:
        chosen = []
    if not chosen or min(chosen) <= 0:
        raise UserError.coded("bench_sizes", sizes=repr(sizes))
    return [int(size) if size.is_integer() else size for size in chosen]


def cmd_hardware(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
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
