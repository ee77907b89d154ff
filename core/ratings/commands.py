"""`python -m core ratings export | import`."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from core.ratings.pairs import OVERALL, SOURCES
from core.ratings.rubric import CRITERIA


def register(commands) -> None:
    """Add these commands to `python -m core`'s subparsers."""
    ratings = commands.add_parser("ratings", help="export the ratings, or import samples and ratings (CSV or JSONL)")
    ratings_actions = ratings.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(ratings))
    ratings_export = ratings_actions.add_parser("export", help="every rating with its sample's provenance")
    ratings_export.add_argument("--format", choices=["csv", "jsonl"],
                                help="csv (UTF-8 with BOM, for Excel) or jsonl (default: from --out's extension, else csv)")
    ratings_export.add_argument("--out", required=True, help="the file to write")
    ratings_import = ratings_actions.add_parser("import", help="samples (model, prompt, text, ...) with optional ratings")
    ratings_import.add_argument("file", metavar="FILE", help="a .csv or .jsonl file")
    ratings_pairs = ratings_actions.add_parser("pairs", help="preference pairs from votes, scores and accepts (JSONL "
                                               "for `train --method dpo --pairs`)")
    ratings_pairs.add_argument("--out", required=True, help="the JSONL file to write")
    ratings_pairs.add_argument("--margin", type=float, default=1.0, help="score pairs: at least this many points apart")
    ratings_pairs.add_argument("--criterion", default=OVERALL, choices=[OVERALL, *CRITERIA],
                               help="score pairs: overall (the mean of the scored criteria) or one criterion")
    ratings_pairs.add_argument("--source", choices=SOURCES, help="only the pairs from votes, scores or accepts")
    for name in ("rater", "model"):
        ratings_pairs.add_argument(f"--{name}", help=f"only the pairs of this {name}")
    ratings_pairs.add_argument("--since", type=date.fromisoformat, help="only pairs from this day on (YYYY-MM-DD)")
    ratings_pairs.add_argument("--until", type=date.fromisoformat, help="only pairs up to this day (YYYY-MM-DD)")
    best_of = ratings_actions.add_parser("best-of", help="a dataset of the best-rated samples (or the vote winners) "
                                         "to fine-tune on")
    best_of.add_argument("--name", required=True, help="the dataset's name in the workspace")
    best_of.add_argument("--winners", action="store_true", help="the samples that won more blind votes than they lost "
                         "(default: the samples scored at least --min-score)")
    best_of.add_argument("--min-score", type=float, default=4.0, help="the mean score a sample needs (1-5)")
    best_of.add_argument("--criterion", default=OVERALL, choices=[OVERALL, *CRITERIA], help="the score compared")
    best_of.add_argument("--model", help="only this model's samples")
    ratings.set_defaults(run=cmd_ratings)


def cmd_ratings(args) -> None:
    from core.ratings import io as ratings_io
    from core.ratings.store import open_store

    with open_store() as store:
        if args.action == "pairs":
            _write_pairs(store, args)
        elif args.action == "best-of":
            from core.ratings import best_of
            from core.workspace import Workspace

            choice = dict(mode="winners") if args.winners else dict(min_score=args.min_score, criterion=args.criterion)
            saved = best_of.save(store, Workspace.from_env(), args.name, model=args.model, **choice)
            print(f"saved the dataset {saved.name}: {saved.documents} rated samples ({saved.summary['train_documents']}"
                  f" to train on, {saved.summary['validation_documents']} for validation), provenance in its report")
        elif args.action == "export":
            fmt = args.format or ("jsonl" if Path(args.out).suffix.lower() in (".jsonl", ".ndjson") else "csv")
            rows = ratings_io.export(store, fmt, args.out)
            print(f"exported {rows} rating{'s' if rows != 1 else ''} with their samples' provenance to {args.out}")
        else:
            done = ratings_io.import_file(store, args.file)
            print(f"imported {done['samples']} samples and {done['ratings']} ratings from {args.file}")


def _write_pairs(store, args) -> None:
    from core.ratings import pairs

    found = pairs.lab_pairs(store, margin=args.margin, criterion=args.criterion)
    kept = pairs.filtered(found, rater=args.rater, model=args.model, source=args.source, since=args.since,
                          until=args.until)
    written = pairs.write(kept, args.out)
    by_source = ", ".join(f"{n} from {source}s" for source, n in pairs.counts(kept).items())
    print(f"wrote {written} preference pairs ({by_source}) to {args.out}")
