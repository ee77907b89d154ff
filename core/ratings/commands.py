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
    ratings_export.add_argument("--out", required=True, help="the file to write (never the lab's own files)")
    ratings_export.add_argument("--force", action="store_true", help="replace --out if it exists")
    ratings_import = ratings_actions.add_parser("import", help="samples (model, prompt, text, ...) with optional ratings")
    ratings_import.add_argument("file", metavar="FILE", help="a .csv or .jsonl file")
    ratings_pairs = ratings_actions.add_parser("pairs", help="preference pairs from votes, scores and accepts (JSONL "
                                               "for `train --method dpo --pairs`)")
    ratings_pairs.add_argument("--out", required=True, help="the JSONL file to write (never the lab's own files)")
    ratings_pairs.add_argument("--force", action="store_true", help="replace --out if it exists")
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
    _register_raters(commands)


def _register_raters(commands) -> None:
    raters = commands.add_parser("raters", help="invite raters to the rater-only mode (make run MODE=rate), revoke them")
    actions = raters.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(raters))
    actions.add_parser("invite", help="print a new invitation code for NAME (stored hashed)").add_argument("name")
    actions.add_parser("revoke", help="NAME's code no longer signs in").add_argument("name")
    actions.add_parser("exclude", help="leave NAME out of the aggregates (scores kept)").add_argument("name")
    actions.add_parser("include", help="count NAME in the aggregates again").add_argument("name")
    actions.add_parser("list", help="the raters, their codes' state and exclusion")
    raters.set_defaults(run=cmd_raters)


def cmd_ratings(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.files import check_output_file
    from core.ratings import io as ratings_io
    from core.ratings.store import open_store
    from core.workspace import Workspace

    if args.action in ("export", "pairs"):  # checked before any work, like every --out
        check_output_file(args.out, Workspace.from_env(), force=args.force)
    with open_store() as store:
        if args.action == "pairs":
            _write_pairs(store, args)
        elif args.action == "best-of":
            # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
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
            already = f" ({done['existing']} already stored, not added again)" if done["existing"] else ""
            print(f"imported {done['samples']} samples{already} and {done['ratings']} ratings from {args.file}")


def cmd_raters(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.ratings import raters
    from core.ratings.store import open_store

    with open_store() as store:
        if args.action == "invite":
            code = raters.invite(store, args.name)
            print(f"invitation code for {args.name.strip()} (shown once; give it to them privately): {code}")
        elif args.action == "revoke":
            raters.revoke(store, args.name)
            print(f"revoked {args.name.strip()}'s invitation code")
        elif args.action in ("exclude", "include"):
            raters.set_excluded(store, args.name, args.action == "exclude")
            print(f"{args.name.strip()} is {'left out of' if args.action == 'exclude' else 'counted in'} the aggregates")
        else:
            for r in raters.listed(store):
                state = "revoked" if r.revoked else "invited" if r.invited else "no code"
                print("\t".join([r.name, state, *(["excluded"] if r.excluded else [])]))


def _write_pairs(store, args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.ratings import pairs

    found = pairs.lab_pairs(store, margin=args.margin, criterion=args.criterion)
    kept = pairs.filtered(found, rater=args.rater, model=args.model, source=args.source, since=args.since,
                          until=args.until)
    written = pairs.write(kept, args.out)
    by_source = ", ".join(f"{n} from {source}s" for source, n in pairs.counts(kept).items())
    print(f"wrote {written} preference pairs ({by_source}) to {args.out}")
