"""`python -m core write` (suggestions for the end of a text file) and `python -m core serve` (an OpenAI API)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from core.errors import UserError


def register(commands) -> None:
    """Add these commands to `python -m core`'s subparsers."""
    write = commands.add_parser("write", help="print suggestions that continue the end of a text file")
    write.add_argument("--model", required=True, help="hub id, 'starter', a run or checkpoint, or a local directory")
    write.add_argument("--draft", required=True, help="the UTF-8 text file to continue")
    write.add_argument("--memory", default="", help="text kept in front of the context (title, form, instructions)")
    write.add_argument("--n", type=int, default=3, help="how many alternatives (default 3)")
    write.add_argument("--length", choices=("line", "paragraph"), default="line", help="a line or a paragraph")
    write.add_argument("--setting", help="a decoding setting's name (default: the model's best-rated, else top-p 0.9)")
    write.add_argument("--time", type=int, default=0, metavar="REPEATS",
                       help="bench: suggest REPEATS times and print the seconds to the first characters and to the end")
    write.set_defaults(run=cmd_write)
    serve = commands.add_parser("serve", help="serve a model over an OpenAI-compatible HTTP API (transformers serve)")
    serve.add_argument("model", help="'starter', a run, a checkpoint (run/checkpoint-N) or an exported folder")
    serve.add_argument("--port", type=int, default=8000, help="the port to listen on (default 8000)")
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on (default 127.0.0.1: this machine)")
    serve.set_defaults(run=cmd_serve)


def cmd_write(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core import models
    from core.workspace import Workspace
    from core.write import settings, suggest

    try:
        draft = Path(args.draft).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError.coded("draft_file_unreadable", path=args.draft, reason=getattr(exc, 'strerror', None) or exc) from exc
    if args.n < 1:
        raise UserError.coded("n_at_least_one")
    workspace = Workspace.from_env()
    if args.setting:
        available = settings.available(workspace)
        if args.setting not in available:
            raise UserError.coded("setting_missing", name=args.setting, names=", ".join(available))
        config = available[args.setting]
    else:
        config = settings.default(workspace, args.model)
    tokenizer, model = models.load(args.model, workspace)
    if args.time:
        _bench(model, tokenizer, args, draft, config)
        return
    result = suggest.suggest(model, tokenizer, args.memory, draft, config, n=args.n, length=args.length)
    if result.prompt.cut_chars:
        print(f"note: the draft is longer than the context; its first {result.prompt.cut_chars} characters were left "
              "out (the memory is kept)")
    print(f"setting: {config.name}")
    for number, text in enumerate(result.texts, 1):
        print(f"{number}: {text!r}")


def _bench(model, tokenizer, args, draft: str, config) -> None:
    """Seconds from asking to the first whole characters of any alternative (what the page shows first), and to
    the end; the model is loaded once before, as the page keeps it loaded."""
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.write import suggest

    first, total = [], []
    for round_ in range(args.time + 1):  # round 0 warms up (first-call allocations), not counted
        start, seen = time.perf_counter(), []

        def on_token(_row: int, piece: str, start=start, seen=seen) -> None:
            if piece and not seen:
                seen.append(time.perf_counter() - start)

        suggest.suggest(model, tokenizer, args.memory, draft, config, n=args.n, length=args.length, round_=round_,
                        on_token=on_token)
        if round_:
            first.append(seen[0] if seen else float("nan"))
            total.append(time.perf_counter() - start)
    print(f"first characters: median {statistics.median(first):.3f} s, max {max(first):.3f} s; whole suggestion: "
          f"median {statistics.median(total):.3f} s ({args.time} runs, n={args.n}, {args.length}, setting {config.name})")


def cmd_serve(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.write import serve

    serve.serve(args.model, port=args.port, host=args.host)
