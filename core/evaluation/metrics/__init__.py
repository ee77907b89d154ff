"""`evaluate` metric modules that live in the project, each loaded by path (loading by name asks the hub)."""

from pathlib import Path

PERPLEXITY = Path(__file__).parent / "perplexity"  # evaluate.load(str(PERPLEXITY))
