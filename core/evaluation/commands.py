"""`python -m core eval`: a model's perplexity on a dataset's validation split."""

from __future__ import annotations


def register(commands) -> None:
    """Add this command to `python -m core`'s subparsers."""
    evaluate = commands.add_parser("eval", help="perplexity of a model on a dataset's validation split (packed blocks)")
    evaluate.add_argument("--model", required=True, help="hub id, 'starter', a run or checkpoint, or a local directory")
    evaluate.add_argument("--data", required=True, help="a dataset name in the workspace, or a dataset directory")
    evaluate.add_argument("--block-size", type=int, help="tokens per block (default: the model's context, at most 512)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(run=cmd_eval)


def cmd_eval(args) -> None:
    import json

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
