"""Model names, the Hugging Face way: a hub id, `starter`, a run (or one of its checkpoints), or a local directory.
Resolving a name never touches the network (loading is `core.models.loading`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePath

from core.data import dataset
from core.errors import UserError
from core.models.checkpoints import checkpoint_problem, complete_checkpoints, is_model_dir
from core.train.run_dir import RunDir, checkpoint_step, is_final
from core.workspace import Workspace, is_plain_name

# The GPT-2 family the lab offers by name; any other hub id works too.
HUB_MODELS = ["gpt2", "distilgpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "uer/gpt2-chinese-cluecorpussmall"]
STARTER = "starter"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass(frozen=True)
class ModelSource:
    name: str  # what the user wrote
    location: str  # what `from_pretrained` gets: a hub id or a directory
    kind: str  # "hub", "starter", "run" or "local"

    @property
    def is_hub(self) -> bool:
        return self.kind == "hub"


def resolve(name: str, workspace: Workspace | None = None, *, confined: bool = False) -> ModelSource:
    """Turn a model name into something `from_pretrained` can load, without touching the network.

    `confined` (the pages: a name typed by whoever opens them): a directory counts only under the workspace or a
    folder of `QUILL_DATA_ROOTS`; any other path is "not a model the lab can open", whether or not it exists, so
    the answer tells nothing about the server's folders. The command line reads any path."""
    workspace = workspace or Workspace.from_env()
    if confined and _confined_hub_id(name, workspace):
        return ModelSource(name.strip(), name.strip(), "hub")
    name = (name or "").strip()
    if not name:
        raise UserError.coded("model_not_given")
    if name == STARTER:
        if not is_model_dir(workspace.starter_dir):
            raise UserError.coded("starter_missing", folder=workspace.starter_dir)
        return ModelSource(name, str(workspace.starter_dir), "starter")
    run_model = _run_model(workspace, name)
    if run_model is not None:
        return ModelSource(name, str(run_model), "run")
    path = Path(name).expanduser()
    if path.is_dir():
        if not is_model_dir(path):
            raise UserError.coded("folder_holds_no_model", path=path)
        return ModelSource(name, str(path.resolve()), "local")
    if looks_like_path(name):
        raise UserError.coded("model_dir_missing", path=name)
    if not _HUB_ID.match(name):
        raise UserError.coded("model_name_bad", name=name)
    return ModelSource(name, name, "hub")


def training_dataset(name: str, workspace: Workspace | None = None) -> Path | None:
    """The dataset a run's model was fine-tuned on (for the memorization check); None for any other model,
    and None when that dataset was deleted or moved (the check is skipped, nothing else is lost)."""
    workspace = workspace or Workspace.from_env()
    source = resolve(name, workspace)
    if source.is_hub:
        return None
    runs_dir, location = workspace.runs_dir.resolve(), Path(source.location).resolve()
    run_dir = next((p for p in (location, *location.parents) if p.parent == runs_dir), None)
    if run_dir is None:
        return None
    try:
        return dataset.resolve(workspace, RunDir(run_dir).config_dict()["dataset"])
    except (KeyError, TypeError, UserError):
        return None


def check_page_model(name: str, workspace: Workspace | None = None) -> None:
    """The pages' rule for a model name a visitor typed or put in `?model=`: a UserError ("not a model the lab can
    open") unless it is a hub id, `starter`, a run of this workspace, or a folder under the workspace or a data
    root. `resolve(..., confined=True)` and `load(..., confined=True)` apply it, to an adapter's base too."""
    _confined_hub_id(name, workspace or Workspace.from_env())


def _confined_hub_id(name: str, workspace: Workspace) -> bool:
    """For a page's model name: True when it is to be read as a hub id without looking at the disk; a UserError
    unless it is a hub id, `starter`, a run of this workspace, or a path (no `~`) under the workspace or a data
    root. Checked before anything outside those folders is looked at."""
    name = (name or "").strip()
    if not name or name == STARTER or _run_model(workspace, name.rstrip("/")) is not None:
        return False
    if "\0" not in name and not name.startswith("~"):
        real = Path(name).resolve()
        if any(real.is_relative_to(root) for root in _readable_roots(workspace)):
            return False
    if not looks_like_path(name) and _HUB_ID.match(name):
        return True  # owner/model: a folder of that name outside the workspace is never read
    raise UserError.coded("model_not_allowed", name=name)


def _readable_roots(workspace: Workspace) -> list[Path]:
    try:
        return [workspace.root.resolve(), *workspace.data_roots()]
    except OSError:  # the inbox cannot be made (a read-only disk): it lies in the workspace anyway
        return [workspace.root.resolve()]


def looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def local_models(workspace: Workspace | None = None) -> list[str]:
    """Names of the models this workspace holds: the starter, then each run's final model and checkpoints."""
    workspace = workspace or Workspace.from_env()
    names = [STARTER] if is_model_dir(workspace.starter_dir) else []
    for run in workspace.runs():
        names += [f"{run.name}/{sub.name}" for sub in _run_models(run)]
    return names


def _run_models(run_path: Path) -> list[Path]:
    """A run's loadable models, best first: `final/`, then its complete checkpoints, newest first."""
    final = RunDir(run_path).final_dir
    return ([final] if is_model_dir(final) else []) + complete_checkpoints(run_path)[::-1]


def _run_model(workspace: Workspace, name: str) -> Path | None:
    """`<run-id>` or `<run-id>/<checkpoint>` as a model directory; None when the name does not start with a run.
    The run goes through Workspace.run_dir and the checkpoint must be a plain name inside it, so a model name
    never reaches outside `runs/`."""
    run_id, _, sub = name.partition("/")
    try:
        run_path = workspace.run_dir(run_id)
    except UserError:
        return None
    if not sub:
        return _run_model_dir(run_path)
    if is_plain_name(sub) and (run_path / sub).is_dir():
        if checkpoint_step(sub) is not None:
            return _run_model_dir(run_path / sub)  # refuses a half-saved checkpoint, saying why
        if not is_model_dir(run_path / sub):
            raise UserError.coded("run_folder_holds_no_model", name=name, saved=_saved(run_path))
        return run_path / sub
    if is_final(sub) or checkpoint_step(sub) is not None:
        raise UserError.coded("run_has_no_checkpoint", run=run_id, checkpoint=sub, saved=_saved(run_path))
    return None  # an `owner/model` hub id whose owner happens to be a run's name


def _saved(run_path: Path) -> str:
    return ", ".join(f"{run_path.name}/{p.name}" for p in _run_models(run_path)) or "none yet"


def _run_model_dir(run_path: Path) -> Path:
    """A run's loadable model: the checkpoint directory itself, else `final/`, else its latest complete checkpoint."""
    if checkpoint_step(run_path) is not None:
        problem = checkpoint_problem(run_path)  # a half-saved checkpoint (killed during the save) is not a model
        if problem:
            raise UserError.coded("checkpoint_partial", checkpoint=f"{run_path.parent.name}/{run_path.name}", problem=problem)
        return run_path
    if is_model_dir(run_path):
        return run_path
    candidates = _run_models(run_path)
    if not candidates:
        raise UserError.coded("run_has_no_model_yet", run=run_path.name)
    return candidates[0]


def short_model_name(location: str | None, *, step_word: str = "step", final_word: str = "final") -> str:
    """`/ws/runs/poems-1/checkpoint-200` → "poems-1 · step 200"; `…/poems-1/final` → "poems-1 · final";
    `checkpoint-200` → "step 200"; the starter's directory → "starter"; a hub id (gpt2, uer/gpt2-chinese-…) as it is;
    any other directory → its last part. `step_word`/`final_word` let a page pass its translated words."""
    if not location:
        return "–"
    path = PurePath(str(location).replace("\\", "/").rstrip("/"))
    step = checkpoint_step(path)
    if step is not None:
        return f"{path.parent.name} · {step_word} {step}" if path.parent.name else f"{step_word} {step}"
    if is_final(path) and path.parent.name:
        return f"{path.parent.name} · {final_word}"
    if path.is_absolute() or str(location).startswith((".", "~")):
        return path.name  # a directory: its last part
    return str(location)  # a hub id (owner/model) or any other name, as it was given
