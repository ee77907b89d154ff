"""`python -m core starter | model`: build the starter, describe a model."""

from __future__ import annotations

import time
from pathlib import Path

from core.workspace import Workspace


def register(commands) -> None:
    """Add these commands to `python -m core`'s subparsers."""
    starter = commands.add_parser("starter", help="build the small offline starter model (tokenizer + GPT-2)")
    starter.add_argument("--out", help="directory to build into (default: the workspace's models/starter)")
    starter.add_argument("--seed", type=int, default=0, help="weight initialisation seed (default 0)")
    starter.add_argument("--force", action="store_true", help="rebuild even if it is already there")
    starter.set_defaults(run=cmd_starter)

    model = commands.add_parser("model", help="check that a model name loads, and describe it")
    model.add_argument("name", help="hub id (gpt2, uer/gpt2-chinese-cluecorpussmall), 'starter', a run or a directory")
    model.set_defaults(run=cmd_model)



def cmd_starter(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
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

def cmd_model(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core import models

    source = models.resolve(args.name)
    started = time.perf_counter()
    tokenizer, model = models.load(args.name)
    print(
        f"{args.name}: {source.kind} model at {source.location}, {model.num_parameters() / 1e6:.1f}M parameters, "
        f"vocabulary {len(tokenizer)}, context {model.config.max_position_embeddings} tokens, "
        f"loaded in {time.perf_counter() - started:.1f} s"
    )
