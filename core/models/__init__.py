"""Model names, the Hugging Face way: a hub id, `starter`, a run (or one of its checkpoints), or a local directory.

Resolving a name never touches the network; loading a hub model that is not cached first asks the hub once,
with a short timeout, so that an offline user learns it in about a second instead of after a minute of retries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.models import adapters
from core.workspace import Workspace, is_plain_name

# The GPT-2 family the lab offers by name; any other hub id works too.
HUB_MODELS = ["gpt2", "distilgpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "uer/gpt2-chinese-cluecorpussmall"]
STARTER = "starter"
HUB_PROBE_TIMEOUT_S = 1.5
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass(frozen=True)
class ModelSource:
    name: str  # what the user wrote
    location: str  # what `from_pretrained` gets: a hub id or a directory
    kind: str  # "hub", "starter", "run" or "local"

    @property
    def is_hub(self) -> bool:
        return self.kind == "hub"


def resolve(name: str, workspace: Workspace | None = None) -> ModelSource:
    """Turn a model name into something `from_pretrained` can load, without touching the network."""
    workspace = workspace or Workspace.from_env()
    name = (name or "").strip()
    if not name:
        raise UserError("no model given: name a hub model (e.g. gpt2), 'starter', a run, or a local directory")
    if name == STARTER:
        if not is_model_dir(workspace.starter_dir):
            raise UserError(
                f"the starter model is not built yet ({workspace.starter_dir}): run `python -m core starter` first"
            )
        return ModelSource(name, str(workspace.starter_dir), "starter")
    run_model = _run_model(workspace, name)
    if run_model is not None:
        return ModelSource(name, str(run_model), "run")
    path = Path(name).expanduser()
    if path.is_dir():
        if not is_model_dir(path):
            raise UserError(f"{path} is a directory but holds no model (config.json and weights): pick a model directory")
        return ModelSource(name, str(path.resolve()), "local")
    if looks_like_path(name):
        raise UserError(f"no such model directory: {name}")
    if not _HUB_ID.match(name):
        raise UserError(f"'{name}' is not a model name: use a hub id like gpt2, 'starter', a run, or a directory")
    return ModelSource(name, name, "hub")


def training_dataset(name: str, workspace: Workspace | None = None) -> Path | None:
    """The dataset a run's model was fine-tuned on (for the memorization check); None for any other model,
    and None when that dataset was deleted or moved (the check is skipped, nothing else is lost)."""
    import json

    from core.data import dataset

    workspace = workspace or Workspace.from_env()
    source = resolve(name, workspace)
    if source.is_hub:
        return None
    runs_dir, location = workspace.runs_dir.resolve(), Path(source.location).resolve()
    run_dir = next((p for p in (location, *location.parents) if p.parent == runs_dir), None)
    if run_dir is None:
        return None
    try:
        return dataset.resolve(workspace, json.loads((run_dir / "config.json").read_text(encoding="utf-8"))["dataset"])
    except (OSError, ValueError, KeyError, TypeError, UserError):
        return None


def looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def local_models(workspace: Workspace | None = None) -> list[str]:
    """Names of the models this workspace holds: the starter, then each run's final model and checkpoints."""
    workspace = workspace or Workspace.from_env()
    names = [STARTER] if is_model_dir(workspace.starter_dir) else []
    for run in workspace.runs():
        names += [f"{run.name}/{sub.name}" for sub in _run_models(run)]
    return names


def load(name: str, workspace: Workspace | None = None, *, for_training: bool = False):
    """Load (tokenizer, model) for a model name. Raises UserError with what to do when it cannot."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve(name, workspace)
    if not source.is_hub and adapters.is_adapter_dir(Path(source.location)):
        return adapters.load_with_adapter(Path(source.location), workspace, for_training=for_training)
    options = ensure_available(source) if source.is_hub else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.location, **options)
        model = AutoModelForCausalLM.from_pretrained(source.location, **options)
    except OSError as exc:
        raise UserError(f"could not load model '{name}': {exc}".splitlines()[0]) from exc
    if tokenizer.pad_token is None:
        # GPT-2 has no padding token; batches pad with end-of-text, masked out by the attention mask.
        tokenizer.pad_token = tokenizer.eos_token
    if not for_training:
        model.eval()
    return tokenizer, model


def load_tokenizer(name: str, workspace: Workspace | None = None):
    """Only the tokenizer of a model name (for chunking previews): small and quick, same rules as `load`."""
    from transformers import AutoTokenizer

    source = resolve(name, workspace)
    options = ensure_available(source) if source.is_hub else {}
    try:
        return AutoTokenizer.from_pretrained(source.location, **options)
    except OSError as exc:
        raise UserError(f"could not load the tokenizer of '{name}': {exc}".splitlines()[0]) from exc


def ensure_available(source: ModelSource) -> dict:
    """Options for `from_pretrained` that load a hub model from the cache, or fail fast when the hub is out of reach."""
    from huggingface_hub import constants, try_to_load_from_cache

    cached = try_to_load_from_cache(source.location, "config.json")
    if isinstance(cached, str):
        return {"local_files_only": True}
    advice = (
        "use the starter model ('starter'), a local model directory, or download it once on a machine with "
        "network (it is then cached)"
    )
    # A name without an owner that the lab does not offer is more likely a mistyped run than a hub model
    unknown = "/" not in source.name and source.name not in HUB_MODELS
    runs_hint = "; `python -m core runs` lists the runs" if unknown else ""
    missing = f"no model or run named '{source.name}' here," if unknown else f"model '{source.name}' is not cached"
    if constants.HF_HUB_OFFLINE:
        raise UserError(f"{missing} and HF_HUB_OFFLINE is set: {advice}{runs_hint}")
    status = probe_hub(source.location, constants.ENDPOINT)
    if status is None:
        raise UserError(f"{missing} and the hub ({constants.ENDPOINT}) cannot be reached: {advice}{runs_hint}")
    if status in (401, 403):
        raise UserError(f"model '{source.name}' is gated or private on the hub: log in with `hf auth login`, or {advice}")
    if status == 404:
        what = f"model or run named '{source.name}'" if unknown else f"model '{source.name}'"
        raise UserError(f"there is no {what} on the hub ({constants.ENDPOINT}): check the spelling{runs_hint}")
    return {}


def probe_hub(repo_id: str, endpoint: str) -> int | None:
    """HTTP status of the model's hub page, or None when the hub does not answer within the timeout."""
    from huggingface_hub.utils import get_session

    try:  # the hub's own session, so proxies and mirrors (HF_ENDPOINT) are honoured
        return get_session().head(f"{endpoint}/api/models/{repo_id}", timeout=HUB_PROBE_TIMEOUT_S).status_code
    except Exception:  # noqa: BLE001 - any connection, TLS or timeout failure means "not reachable"
        return None


def is_model_dir(path: Path) -> bool:
    """Config and (non-empty) weights; a run directory's own `config.json` (its training config) does not make it
    a model."""
    if adapters.is_adapter_dir(path):
        return True  # a LoRA checkpoint: loads as its base model + the adapter
    weights = [*path.glob("*.safetensors"), *path.glob("pytorch_model*.bin")] if path.is_dir() else []
    return (path / "config.json").is_file() and any(w.is_file() and w.stat().st_size > 0 for w in weights)


def _run_models(run_path: Path) -> list[Path]:
    """A run's loadable models, best first: `final/`, then its complete checkpoints, newest first."""
    from core.train.runs import complete_checkpoints  # here, not at the top: runs imports this module

    final = run_path / "final"
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
        if re.fullmatch(r"checkpoint-\d+", sub):
            return _run_model_dir(run_path / sub)  # refuses a half-saved checkpoint, saying why
        if not is_model_dir(run_path / sub):
            raise UserError(f"{name} holds no model (config.json and weights): pick one of {_saved(run_path)}")
        return run_path / sub
    if sub == "final" or re.fullmatch(r"checkpoint-\d+", sub):
        raise UserError(f"run '{run_id}' has no {sub}: its saved models are {_saved(run_path)}")
    return None  # an `owner/model` hub id whose owner happens to be a run's name


def _saved(run_path: Path) -> str:
    return ", ".join(f"{run_path.name}/{p.name}" for p in _run_models(run_path)) or "none yet"


def _run_model_dir(run_path: Path) -> Path:
    """A run's loadable model: the checkpoint directory itself, else `final/`, else its latest complete checkpoint."""
    from core.train.runs import checkpoint_problem

    if re.fullmatch(r"checkpoint-\d+", run_path.name):
        problem = checkpoint_problem(run_path)  # a half-saved checkpoint (killed during the save) is not a model
        if problem:
            raise UserError(f"{run_path.parent.name}/{run_path.name} is an incomplete checkpoint ({problem}): "
                            f"pick another (`python -m core runs` lists the runs)")
        return run_path
    if is_model_dir(run_path):
        return run_path
    candidates = _run_models(run_path)
    if not candidates:
        raise UserError(f"run '{run_path.name}' has no saved model yet: wait for its first complete checkpoint")
    return candidates[0]
