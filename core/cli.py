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
    from core.starter import StarterConfig, build_starter, is_built

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
    parser = _Parser(prog="python -m core", description="Quill Lab on the command line.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    starter = commands.add_parser("starter", help="build the small offline starter model (tokenizer + GPT-2)")
    starter.add_argument("--out", help="directory to build into (default: the workspace's models/starter)")
    starter.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default 0)")
    starter.add_argument("--force", action="store_true", help="rebuild even if it is already there")
    starter.set_defaults(run=cmd_starter)

    model = commands.add_parser("model", help="check that a model name loads, and describe it")
    model.add_argument("name", help="hub id (gpt2, uer/gpt2-chinese-cluecorpussmall), 'starter', a run or a directory")
    model.set_defaults(run=cmd_model)

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
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the contract: one line, never a traceback
        if os.environ.get("QUILL_DEBUG"):
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (rerun with QUILL_DEBUG=1 for details)", file=sys.stderr)
        return 1
