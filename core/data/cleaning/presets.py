"""Recipe presets for kinds of text: which steps of the default recipe a kind of text needs changed, and how.

Plain data, so that the command line can list the presets without loading the cleaning steps; `Recipe.preset`
turns one into a recipe. Each is tested on its kind of corpus (tests/test_real_corpora.py).
"""

# Per preset, per step: {"enabled": False} turns the step off, any other key is a parameter; a step named with
# parameters (or none) is turned on. Steps not named keep the default recipe's settings.
NO_LIMIT = 1.0  # a share that can never be exceeded
PRESETS: dict[str, dict[str, dict]] = {
    # Classical verse (诗, 词, 曲, songs): an anthology has no headers or footers, and its titles, tune names and
    # refrains repeat across poems; parallelism and refrains are the form, so no repetition limit; a 四言 line is
    # four words, a tune name without its text is not a poem.
    "verse": {
        "remove_boilerplate_lines": {"enabled": False},
        "quality_filter": {
            "min_words": 4, "max_duplicate_line_fraction": NO_LIMIT, "max_top_ngram_fraction": NO_LIMIT,
        },
    },
    # Modern prose (novels, essays, news as text files): a document is at least a paragraph of some length, and
    # repetition is judged from 100 words on.
    "prose": {
        "quality_filter": {"min_words": 20, "repetition_min_words": 100},
    },
    # Web pages: main-content extraction, then the usual web-crawl filters (Gopher: at least 50 words, at most a
    # million characters: a dump, not an article), emoji and box drawing removed, shorter shared header/footer
    # lines removed, pages in other languages dropped.
    "web": {
        "html_to_text": {"mode": "extract"},
        "remove_boilerplate_lines": {"min_line_chars": 6, "min_fraction": 0.02, "edge_lines": 20},
        "filter_characters": {},
        "quality_filter": {"min_words": 50, "repetition_min_words": 50, "max_chars": 1_000_000},
        "language_filter": {},
    },
    # Plays and scripts: a speech may be one word ("Ay."); speaker names, cues and stage directions ("Exeunt.")
    # recur by nature, so no boilerplate removal.
    "plays": {
        "remove_boilerplate_lines": {"enabled": False},
        "quality_filter": {"min_words": 1},
    },
}
