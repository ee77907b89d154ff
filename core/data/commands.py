"""`python -m core clean`: raw text files into a dataset directory."""

from __future__ import annotations

from pathlib import Path

from core.errors import UserError


def register(commands) -> None:
    """Add these commands to `python -m core`'s subparsers."""
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.data.cleaning.presets import PRESETS
    from core.data.loading import LoadOptions

    load_defaults = LoadOptions()  # the Data page's defaults too
    clean = commands.add_parser("clean", help="clean raw text files into a dataset directory")
    clean.add_argument("inputs", nargs="*", metavar="INPUT",
                       help="files or folders (txt, md, html, jsonl, json, csv, parquet, zip; a folder saved by "
                            "`datasets`' save_to_disk)")
    clean.add_argument("--hf-dataset", action="append", metavar="ID",
                       help="a Hugging Face dataset, user/name[:config][@split] (split: train by default), or a local "
                            "folder load_dataset reads; the text column is chosen with --text-field")
    clean.add_argument("--out", required=True, help="the dataset directory to write")
    clean.add_argument("--recipe", help="a recipe JSON file (default: the default recipe)")
    clean.add_argument("--preset", choices=list(PRESETS), help="start from the recipe preset for a kind of text")
    clean.add_argument("--split", choices=["whole", "paragraphs", "lines"], default=load_defaults.txt_split,
                       help="how a .txt becomes documents (default: one per file)")
    clean.add_argument("--text-field", action="append", metavar="FIELD",
                       help="JSON/JSONL field(s) holding the text, joined in order: repeat it or give a comma list "
                            f"(default: {', '.join(load_defaults.text_fields)}, those present)")
    clean.add_argument("--csv-column", default=load_defaults.csv_column,
                       help=f"CSV column holding the text (default: {load_defaults.csv_column})")
    clean.add_argument("--validation-ratio", type=float, default=0.1, help="share kept for validation (default 0.1)")
    clean.add_argument("--seed", type=int, default=0, help="seed of the validation split (default 0)")
    clean.add_argument("--workers", type=int, help="processes for the per-document steps (default: 2, or 1 on one core)")
    clean.add_argument("--overwrite", action="store_true", help="replace the output directory if it holds a dataset")
    clean.set_defaults(run=cmd_clean)


def cmd_clean(args) -> None:
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.data.book import cut_description
    from core.data.build import build_dataset
    from core.data.cleaning.fidelity import measure
    from core.data.cleaning.recipe import Recipe
    from core.data.loading import LoadOptions, LoadResult, field_names, load_paths

    if args.recipe and args.preset:
        raise UserError.coded("recipe_and_preset")
    recipe = Recipe.load(args.recipe) if args.recipe else Recipe.preset(args.preset) if args.preset else Recipe.default()
    options = LoadOptions(txt_split=args.split, csv_column=args.csv_column)
    if args.text_field:
        options.text_fields = field_names(args.text_field)
    # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
    from core.data import dataset

    dataset.check_writable(Path(args.out), args.overwrite)  # refused before reading and cleaning, not after
    # Any path: the command line's user names files they could read in a shell anyway. The server is what
    # must stay inside the allowed folders (pages/data.py passes them).
    if not args.inputs and not args.hf_dataset:
        raise UserError.coded("nothing_to_clean")
    loaded = load_paths(args.inputs, options, allowed_roots=None) if args.inputs else LoadResult()
    if args.hf_dataset:
        # lazy: the command's work loads when it runs, so `python -m core --help` stays fast
        from core.data import hf_datasets

        for spec in args.hf_dataset:
            loaded.extend(hf_datasets.load_spec(spec, options))
    for file in loaded.files:
        if file.error:
            print(f"skipped {file.name}: {file.error}")
        elif file.warning:
            print(f"note {file.name}: {file.warning}")
        if file.cut:
            print(f"note {file.name}: {cut_description(file.cut)}")
    built = build_dataset(loaded.documents, loaded.files, recipe, Path(args.out), ratio=args.validation_ratio,
                          seed=args.seed, overwrite=args.overwrite, workers=args.workers)
    result, summary = built.result, built.saved
    print(
        f"cleaned {len(loaded.files)} files in {built.seconds:.1f} s: {result.docs_in} documents in, "
        f"{len(result.texts)} kept ({result.chars_in:,} → {result.chars_out:,} characters)"
    )
    for step in result.steps:
        dropped = ", ".join(f"{code} {n}" for code, n in step.dropped.items())
        print(f"  {step.name:<26} {step.docs_in:>7} → {step.docs_out:<7} docs  {step.changed:>6} changed  {dropped}")
        for line, documents in list(step.removed_lines.items())[:10]:
            print(f"    removed from {documents} documents: {line}")
    print(f"  {measure([d.text for d in loaded.documents], result).summary()}")
    if built.lost.serious:
        for line in built.lost.messages():
            print(f"warning: {line}")
    print(
        f"saved to {args.out}: {summary['train_documents']} training and {summary['validation_documents']} "
        f"validation documents (split by {summary['by']})"
    )
