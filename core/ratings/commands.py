"""`python -m core ratings export | import`."""

from __future__ import annotations

from pathlib import Path


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
    from core.files import check_output_file
    from core.ratings import io as ratings_io
    from core.ratings.store import open_store
    from core.workspace import Workspace

    if args.action == "export":
        check_output_file(args.out, Workspace.from_env(), force=args.force)
    with open_store() as store:
        if args.action == "export":
            fmt = args.format or ("jsonl" if Path(args.out).suffix.lower() in (".jsonl", ".ndjson") else "csv")
            rows = ratings_io.export(store, fmt, args.out)
            print(f"exported {rows} rating{'s' if rows != 1 else ''} with their samples' provenance to {args.out}")
        else:
            done = ratings_io.import_file(store, args.file)
            already = f" ({done['existing']} already stored, not added again)" if done["existing"] else ""
            print(f"imported {done['samples']} samples{already} and {done['ratings']} ratings from {args.file}")


def cmd_raters(args) -> None:
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
