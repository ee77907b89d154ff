"""The settings arena: people choose a model's sampling settings by blind votes between two samples of one prompt.

Each round pits a challenger setting against the champion (the first round: the middle of the space against a random
setting, both kept as trials of an Optuna study over temperature / top-k / top-p / repetition penalty). The
challenger is a step from the champion, learned from the earlier challenges (core.ratings.arena_search). A challenger
that beats the champion meets it again with another seed and takes its place only if it wins twice (one noisy click
does not crown it). The study is told a ladder value: the champion's plus one for a challenger that took its place,
minus one for one that lost, the same for a split; the top of the ladder is the champion. (A Bradley-Terry fit of all
votes, core.ratings.aggregates, is the ranking shown beside; as the champion rule it lagged: a challenger that beat a
long-standing champion once stayed below it, and the search stalled.) Which side (left/right) each setting is shown
on is random and recorded, so the raters' position bias is measured.

The study lives in the lab database (Optuna's own tables beside the store's, as sweeps do), named `arena:<model>`;
the round waiting for a vote, its texts, every vote and each challenger's step are the trials' user attributes, so a
reload or a restarted server shows the same round, forgets nothing and proposes the same next step. Settings are
plain dicts of DecodingConfig's field names: the ratings side does not import the Playground that samples with them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone

from core.errors import UserError
from core.ratings import arena_search, studies

PREFIX = "arena:"
OUTCOMES = ("left", "right", "tie")
SPACE_BOUNDS = {"temperature": (0.2, 1.6), "top_k": (0, 200), "top_p": (0.5, 1.0), "repetition_penalty": (1.0, 1.6)}
CONFIDENCE = 0.95


def _space() -> dict:
    # lazy: optuna takes ~170 ms to import, and only this path needs it
    from optuna.distributions import FloatDistribution, IntDistribution

    return {name: IntDistribution(*bounds) if name == "top_k" else FloatDistribution(*bounds)
            for name, bounds in SPACE_BOUNDS.items()}


@dataclass(frozen=True)
class Round:
    number: int  # the challenger's trial number: the round's identity
    prompt: str
    seed: int  # both samples use it: the settings are the only difference
    left: dict  # the settings shown on the left
    right: dict
    left_trial: int
    right_trial: int
    texts: tuple[str, str] | None = None  # (left, right) once sampled


def settings_of(params: dict) -> dict:
    """Trial parameters as a sampling setting (DecodingConfig's field names)."""
    return {"do_sample": True, **{k: round(v, 3) if isinstance(v, float) else v for k, v in params.items()}}


class Arena:
    """One model's arena, in the lab database at `url`."""

    def __init__(self, model: str, url: str, seed: int = 0):
        # lazy: optuna takes ~170 ms to import, and only this path needs it
        import optuna

        if not model.strip():
            raise UserError.coded("arena_needs_model")
        self.model, self.url, self.seed = model.strip(), url, seed
        storage = studies.storage(url)
        name = PREFIX + self.model
        existing = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True)
        # the opening round's random setting; the seed moves with the trials: a reopened arena draws another
        sampler = optuna.samplers.RandomSampler(seed=seed + len(existing.trials))
        self.study = optuna.load_study(study_name=name, storage=storage, sampler=sampler)

    # ---- rounds --------------------------------------------------------------------------------------------

    def pending(self) -> Round | None:
        """The round waiting for a vote, if any: a challenger trial still running."""
        # lazy: optuna takes ~170 ms to import, and only this path needs it
        from optuna.trial import TrialState

        trials = self.study.get_trials(deepcopy=False)
        for trial in trials:
            shown = trial.user_attrs.get("round")
            if shown and trial.state == TrialState.RUNNING:
                return self._round(trial, trials[shown["opponent"]])
        return None

    def _round(self, challenger, opponent) -> Round:
        shown = challenger.user_attrs["round"]
        sides = (challenger, opponent) if shown["challenger_side"] == "left" else (opponent, challenger)
        texts = shown.get("texts")
        return Round(number=challenger.number, prompt=shown["prompt"], seed=shown["seed"],
                     left=settings_of(sides[0].params), right=settings_of(sides[1].params),
                     left_trial=sides[0].number, right_trial=sides[1].number, texts=tuple(texts) if texts else None)

    def _side(self, number: int, votes_so_far: int) -> str:
        return random.Random(self.seed * 100_003 + number * 7 + votes_so_far).choice(("left", "right"))

    def propose(self, prompt: str) -> Round:
        """The round to vote on: the pending one, else a new challenger against the champion."""
        if not prompt.strip():
            raise UserError.coded("arena_needs_prompt")
        waiting = self.pending()
        if waiting is not None:
            return waiting
        space = _space()
        best = self.champion()
        if best is None:  # nothing decided yet: a random setting meets the middle of the space
            challenger = self.study.ask(space)
            self.study.enqueue_trial(arena_search.centre(SPACE_BOUNDS))
            opponent = self.study.ask(space)
            opponent.set_user_attr("paired_with", challenger.number)
            opponent_number = opponent.number
        else:
            trials = self.study.get_trials(deepcopy=False)
            rng = random.Random(self.seed * 100_003 + len(trials))
            params, step = arena_search.next_step({"trial": best["trial"], "params": trials[best["trial"]].params},
                                                  SPACE_BOUNDS, self._history(trials), rng)
            self.study.enqueue_trial(params, user_attrs={"step": step})
            challenger = self.study.ask(space)
            opponent_number = best["trial"]
        challenger.set_user_attr("round", {"prompt": prompt, "seed": challenger.number, "opponent": opponent_number,
                                           "challenger_side": self._side(challenger.number, 0)})
        challenger.set_user_attr("votes", [])
        return self.pending()

    @staticmethod
    def _history(trials) -> list[dict]:
        """The decided challenges against a champion, in order: their results and steps (arena_search's input)."""
        return [{"result": t.user_attrs["result"], "step": t.user_attrs["step"]} for t in trials
                if "step" in t.user_attrs and "result" in t.user_attrs]

    def set_texts(self, number: int, left: str, right: str) -> None:
        """Keep the round's two samples, so a reload shows them without sampling again."""
        shown = self.study.get_trials(deepcopy=False)[number].user_attrs["round"]
        self._set(number, "round", {**shown, "texts": [left, right]})

    def _set(self, number: int, key: str, value) -> None:
        trial_id = self.study._storage.get_trial_id_from_study_id_trial_number(self.study._study_id, number)
        self.study._storage.set_trial_user_attr(trial_id, key, value)

    def vote(self, number: int, outcome: str, rater: str) -> None:
        """Record the vote on round `number`. A challenger that beats the champion meets it again (a new seed, the
        sides drawn again) and takes its place only if it wins that too: one careless click does not crown it."""
        # lazy: optuna takes ~170 ms to import, and only this path needs it
        from optuna.trial import TrialState

        if outcome not in OUTCOMES:
            raise UserError.coded("arena_vote_unknown", outcomes=", ".join(OUTCOMES), outcome=repr(outcome))
        if not rater.strip():
            raise UserError.coded("arena_needs_rater")
        waiting = self.pending()
        if waiting is None or waiting.number != number:
            raise UserError.coded("arena_round_voted")
        trials = self.study.get_trials(deepcopy=False)
        shown, earlier = trials[number].user_attrs["round"], trials[number].user_attrs.get("votes", [])
        votes = [*earlier, {"outcome": outcome, "rater": rater.strip(), "challenger_side": shown["challenger_side"],
                            "seed": shown["seed"], "created": datetime.now(timezone.utc).isoformat()}]
        self._set(number, "votes", votes)
        won = [0 if v["outcome"] == "tie" else 1 if v["outcome"] == v["challenger_side"] else -1 for v in votes]
        if won == [1]:  # a rematch: the same two settings, another seed, the sides drawn again
            self._set(number, "round", {**shown, "seed": shown["seed"] + 1_000_003, "texts": None,
                                        "challenger_side": self._side(number, 1)})
            return
        result = 1 if won == [1, 1] else -1 if won[0] == -1 else 0
        opponent = trials[shown["opponent"]]
        level = opponent.value if opponent.state == TrialState.COMPLETE else 0.0
        self._set(number, "result", result)
        self.study.tell(number, level + result)
        if opponent.state == TrialState.RUNNING:  # the first round: both were proposals
            self.study.tell(opponent.number, level - result)

    # ---- what the votes say --------------------------------------------------------------------------------

    def votes(self) -> list[dict]:
        """Every vote: round, left and right trial numbers, outcome (left, right, tie), rater, created."""
        out = []
        for trial in self.study.get_trials(deepcopy=False):
            shown = trial.user_attrs.get("round")
            for vote in trial.user_attrs.get("votes") or []:
                pair = (trial.number, shown["opponent"])
                left, right = pair if vote["challenger_side"] == "left" else pair[::-1]
                out.append({"round": trial.number, "left": left, "right": right, "outcome": vote["outcome"],
                            "rater": vote["rater"], "created": vote["created"]})
        return out

    def ranking(self) -> list[dict]:
        """A Bradley-Terry fit of every vote (the settings with votes, strongest first): trial, settings, strength,
        wins, losses, ties, votes."""
        # lazy: numpy takes ~70 ms to import, and only this path needs it
        from core.ratings.aggregates import bradley_terry

        votes = [{"a": v["left"], "b": v["right"], "outcome": {"left": "a", "right": "b"}.get(v["outcome"], "tie")}
                 for v in self.votes()]
        trials = self.study.get_trials(deepcopy=False)
        return [{"trial": row["item"], "settings": settings_of(trials[row["item"]].params), **{
            k: row[k] for k in ("strength", "wins", "losses", "ties", "votes")}} for row in bradley_terry(votes, n_boot=0)]

    def champion(self) -> dict | None:
        """The setting on top of the ladder (the one the Playground and an export use): trial, settings, level,
        rounds; None before a round is decided. Equal levels: the earlier setting, which held its place."""
        # lazy: optuna takes ~170 ms to import, and only this path needs it
        from optuna.trial import TrialState

        decided = [t for t in self.study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
        if not decided:
            return None
        top = max(decided, key=lambda t: (t.value, -t.number))
        played = sum(top.number in (v["left"], v["right"]) for v in self.votes())
        return {"trial": top.number, "settings": settings_of(top.params), "level": top.value, "votes": played}

    best = champion


def arenas(url: str) -> list[str]:
    """The models that have an arena in this database."""
    # lazy: optuna takes ~170 ms to import, and only this path needs it
    import optuna

    names = optuna.get_all_study_names(storage=studies.storage(url))
    return sorted(name[len(PREFIX):] for name in names if name.startswith(PREFIX))


def best_setting(model: str, url: str) -> dict | None:
    """The arena's best setting for `model`, if it has an arena with votes; for exports (generation_config.json)."""
    return Arena(model, url).best() if model in arenas(url) else None


def position_bias(votes: list[dict], confidence: float = CONFIDENCE) -> dict:
    """How often the left sample won among the decisive votes, with a Wilson interval: about 0.5 when the raters
    judge the text and not the side (the sides are random, so the settings cannot explain a lean)."""
    # lazy: scipy takes ~80 ms to import, and only this path needs it
    from scipy.stats import binomtest

    left = sum(v["outcome"] == "left" for v in votes)
    right = sum(v["outcome"] == "right" for v in votes)
    ties = sum(v["outcome"] == "tie" for v in votes)
    decisive = left + right
    if not decisive:
        return {"left": 0, "right": 0, "ties": ties, "left_rate": None, "low": None, "high": None}
    interval = binomtest(left, decisive).proportion_ci(confidence_level=confidence, method="wilson")
    return {"left": left, "right": right, "ties": ties, "left_rate": left / decisive, "low": interval.low,
            "high": interval.high}
