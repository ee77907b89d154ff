"""What on disk makes a model and a complete checkpoint: the one check that the resolver, resume, the resume
picker and the trainer share. Reads only (a leaf module: the run and model modules both import it)."""

from __future__ import annotations

from pathlib import Path

from core.files import read_json
from core.train.run_dir import RunDir


def is_model_dir(path: Path) -> bool:
    """Config and (non-empty) weights; a run directory's own `config.json` (its training config) does not make it
    a model; a LoRA checkpoint (an adapter beside its base's name) is one too."""
    if (path / "adapter_config.json").is_file() and (path / "adapter_model.safetensors").is_file():
        return (path / "adapter_model.safetensors").stat().st_size > 0  # as core.models.adapters.is_adapter_dir
    weights = [*path.glob("*.safetensors"), *path.glob("pytorch_model*.bin")] if path.is_dir() else []
    return (path / "config.json").is_file() and any(w.is_file() and w.stat().st_size > 0 for w in weights)


def checkpoint_dirs(run_dir: Path) -> list[Path]:
    """checkpoint-N directories, complete or not, by step."""
    return RunDir(run_dir).checkpoint_dirs()


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """The checkpoints that can be resumed from and loaded, by step: the one definition that resume, the page's
    resume picker and the model resolver share."""
    return [p for p in checkpoint_dirs(run_dir) if checkpoint_problem(p) is None]


def incomplete_checkpoints(run_dir: Path) -> list[tuple[Path, str]]:
    """The checkpoint-N directories that are not complete, by step, each with why."""
    return [(p, why) for p in checkpoint_dirs(run_dir) if (why := checkpoint_problem(p))]


def checkpoint_problem(path: Path) -> str | None:
    """Why a checkpoint directory is not complete, or None. The Trainer writes a checkpoint in place (weights,
    optimizer, scheduler, RNG state, then trainer_state.json last), so a kill during a save leaves a directory that
    looks like a checkpoint; this is the check, rather than writing under a temporary name, because the Trainer
    chooses the name and writes there itself."""
    path = Path(path)
    state, problem = read_json(path / "trainer_state.json")
    if problem:
        return problem
    if not isinstance(state, dict) or type(state.get("global_step")) is not int:
        return "trainer_state.json has no step"
    if not is_model_dir(path):
        return "no model weights"
    for name in ("optimizer.pt", "scheduler.pt"):
        file = path / name
        if not file.is_file() or file.stat().st_size == 0:
            return f"{name} is {'empty' if file.is_file() else 'missing'}"
    return None
