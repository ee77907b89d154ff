"""`python -m core starter | model | eval`: build the starter, describe a model, measure its perplexity.

eval lives here rather than in core/evaluation/, whose package imports numpy: `python -m core --help` imports every
commands module, and stays fast."""

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

    evaluate = commands.add_parser("eval", help="perplexity of a model on a dataset's validation split (packed blocks)")
    evaluate.add_argument("--model", required=True, help="hub id, 'starter', a run or checkpoint, or a local directory")
    evaluate.add_argument("--data", required=True, help="a dataset name in the workspace, or a dataset directory")
    evaluate.add_argument("--block-size", type=int, help="tokens per block (default: the model's context, at most 512)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(run=cmd_eval)

    datamap = commands.add_parser("datamap", help="each document's loss under a model (bits per character), worst first")
    datamap.add_argument("--model", required=True, help="hub id, 'starter', a run or checkpoint, or a local directory")
    datamap.add_argument("--data", required=True, help="a dataset name in the workspace, or a dataset directory")
    datamap.add_argument("--show", type=int, default=5, help="documents to list at each end (default 5)")
    datamap.set_defaults(run=cmd_datamap)


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


def cmd_datamap(args) -> None:
    from core.data import dataset
    from core.evaluation import document_loss

    result = document_loss.compute(args.data, args.model)
    rows = document_loss.worst_first(result)
    data_dir = dataset.resolve(Workspace.from_env(), args.data)
    print(f"{args.model} on {args.data}: {len(rows)} documents mapped in {result['seconds']:.1f} s "
          f"(written to {document_loss.map_path(data_dir, args.model, Workspace.from_env())})")
    shown = rows[:args.show] + (rows[-args.show:] if len(rows) > 2 * args.show else rows[args.show:])
    for rank, row in enumerate(shown):
        label = "worst" if rank < args.show else "best"
        print(f"  {label:<5} {row['bits_per_char']:7.3f} bits/char  {row['part']}#{row['index']}  {row['chars']:,} characters")
