"""`python -m core eval`: a model's perplexity on a dataset's validation split."""

from __future__ import annotations

import json


def register(commands) -> None:
    """Add this command to `python -m core`'s subparsers."""
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


def cmd_eval(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core import evaluation

    result = evaluation.perplexity(args.model, args.data, block_size=args.block_size)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    perplexity = f"{result['perplexity']:.2f}" if result["perplexity"] is not None else "too large to show"
    per_char = f"{result['bits_per_char']:.3f}" if result["bits_per_char"] is not None else "–"
    print(f"{args.model} on {args.data} ({result['split']}): {per_char} bits per character, perplexity {perplexity} (mean loss "
          f"{result['mean_nll']:.4f}) over {result['tokens']:,} predicted tokens in {result['blocks']} blocks of "
          f"{result['block_size']}")


def cmd_datamap(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.data import dataset
    from core.evaluation import document_loss
    from core.workspace import Workspace

    result = document_loss.compute(args.data, args.model)
    rows = document_loss.worst_first(result)
    data_dir = dataset.resolve(Workspace.from_env(), args.data)
    print(f"{args.model} on {args.data}: {len(rows)} documents mapped in {result['seconds']:.1f} s "
          f"(written to {document_loss.map_path(data_dir, args.model, Workspace.from_env())})")
    shown = rows[:args.show] + (rows[-args.show:] if len(rows) > 2 * args.show else rows[args.show:])
    for rank, row in enumerate(shown):
        label = "worst" if rank < args.show else "best"
        print(f"  {label:<5} {row['bits_per_char']:7.3f} bits/char  {row['part']}#{row['index']}  {row['chars']:,} characters")
