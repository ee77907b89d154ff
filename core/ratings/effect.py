"""Whether preference tuning helped, measured: blind A/B votes between a tuned model's samples and its parent's on
the same prompts, as the tuned model's win rate with a 95% Wilson interval (ties counted apart, "both bad" left
out)."""

from __future__ import annotations

from core.ratings.arena import CONFIDENCE


def win_rate(store, tuned: str, parent: str, confidence: float = CONFIDENCE) -> dict:
    """{wins, losses, ties, votes, rate, low, high} of `tuned` against `parent` (model names as the samples
    record them); rate and interval are None before a decisive vote."""
    # lazy: scipy takes ~80 ms to import, and only this path needs it
    from scipy.stats import binomtest

    wins = losses = ties = 0
    for vote in store.comparisons():
        sides = {"a": vote["model_a"], "b": vote["model_b"]}
        if set(sides.values()) != {tuned, parent}:
            continue
        if vote["outcome"] == "tie":
            ties += 1
        elif vote["outcome"] in sides:
            wins, losses = (wins + 1, losses) if sides[vote["outcome"]] == tuned else (wins, losses + 1)
    decisive = wins + losses
    result = {"wins": wins, "losses": losses, "ties": ties, "votes": decisive + ties, "rate": None, "low": None,
              "high": None}
    if decisive:
        interval = binomtest(wins, decisive).proportion_ci(confidence_level=confidence, method="wilson")
        result.update(rate=wins / decisive, low=interval.low, high=interval.high)
    return result
