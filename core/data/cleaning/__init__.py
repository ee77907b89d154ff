"""Text cleaning: per-document steps, corpus-level steps (boilerplate lines, dedup), the recipe and its pipeline."""
