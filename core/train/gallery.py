"""A run's checkpoint gallery: what the trainer samples from the gallery prompts at each evaluation, one
`SampleRecord` a line in the run's samples.jsonl, written with its full provenance at the source, so that the ratings
store takes the lines as they are (see core.train.gallery_import) and the Train page reads the same records.

The step a sample was drawn at is its setting's name, "gallery step N": the name the ratings side shows anyway.
Run folders from before hold {"step", "prompt", "text", "seed"} lines; `read` still takes them, with the
provenance the run's config gives.
"""

from __future__ import annotations

import re
from pathlib import Path

from core.errors import UserError
from core.playground.presets import gallery_decoding
from core.playground.sampling import DecodingConfig
from core.ratings.schema import SampleRecord
from core.train.config import TrainConfig
from core.train.run_dir import Lines, RunDir

_NAME = "gallery step {step}"
_STEP = re.compile(r"gallery step (\d+)")


def decoding(config: TrainConfig) -> DecodingConfig:
    """The setting the gallery samples with (the Playground's decoding path, a fixed seed)."""
    return gallery_decoding(config.gallery_max_new_tokens, config.gallery_seed)


def record(run: RunDir, config: TrainConfig, step: int, prompt: str, text: str) -> SampleRecord:
    """One gallery sample with its provenance; step 0 is the model the run started from."""
    checkpoint = run.checkpoint(step).name if step else config.model
    return SampleRecord(
        model=f"{run.id}/{checkpoint}" if step else config.model, checkpoint=checkpoint, run=run.id,
        dataset=config.dataset, source="gallery", prompt=prompt, text=text, seed=config.gallery_seed,
        config_name=_NAME.format(step=step), settings=decoding(config).to_dict(),
    )


def step(sample: SampleRecord) -> int:
    """The training step a gallery sample was drawn at."""
    return int(_STEP.fullmatch(sample.config_name or "").group(1))


def read(run_dir: Path) -> Lines:
    """The gallery's samples as records, and why the first line that is none is left out."""
    run = RunDir(run_dir)
    lines = run.samples(_problem)
    samples, problem, config = [], lines.problem, None
    for line in lines.records:
        if not _old(line):
            samples.append(SampleRecord.from_dict(line))
            continue
        try:
            config = config or run.config()  # an old line's provenance
        except UserError as exc:  # config.json damaged: the old lines are left out, with the reason
            problem = problem or str(exc)
            continue
        samples.append(_from_old(run, config, line))
    return Lines(samples, problem)


def _old(line: dict) -> bool:
    return "step" in line  # the line shape before the gallery was written as records: {step, prompt, text, seed}


def _from_old(run: RunDir, config: TrainConfig, line: dict) -> SampleRecord:
    sample = record(run, config, line["step"], line["prompt"], line["text"])
    sample.seed = line.get("seed")
    return sample


def _problem(line: dict) -> str | None:
    """Why a line is no gallery sample (the run folder has checked the types of the fields both shapes share)."""
    if _old(line):
        return None
    try:
        sample = SampleRecord.from_dict(line, where="the sample")
    except UserError as exc:
        return str(exc)
    return None if sample.source == "gallery" and _STEP.fullmatch(sample.config_name or "") else "not a gallery sample"
