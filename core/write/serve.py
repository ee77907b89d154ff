"""`python -m core serve MODEL`: the lab's model behind an OpenAI-compatible HTTP API, for editors and scripts.

The server is transformers' own (`transformers serve`: /v1/completions, /v1/chat/completions, /v1/models, HTTP
errors for bad requests and prompts beyond the context), not a home-made layer. It serves a model folder with that
folder's generation_config.json as the decoding defaults; so the lab serves a folder of links to the model's files
plus a generation_config.json of the model's best-rated setting, under `workspace/serving/<model name>`, and starts
the server there, so that the model's id in requests is the lab's own name for it ("starter", "run-1/final").
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from core import models
from core.errors import UserError
from core.models import adapters
from core.workspace import Workspace
from core.write import settings as write_settings

GENERATION_KEYS = ("do_sample", "temperature", "top_k", "top_p", "repetition_penalty", "no_repeat_ngram_size",
                   "max_new_tokens")
HOST = "127.0.0.1"  # this machine only, unless the user says otherwise


def served_name(name: str, location: Path) -> str:
    """The model's id in requests: the lab's name when it is a plain name ("starter", "run/checkpoint-20"), else
    the folder's own name (for a path given on the command line)."""
    parts = Path(name).parts
    plain = name and not Path(name).is_absolute() and ".." not in parts and not name.startswith("~")
    return name if plain and not Path(name).exists() else location.name


def check_port(host: str, port: int) -> None:
    """A port in use is a UserError now, not a traceback from the server later."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UserError.coded("port_unavailable", host=host, port=port, reason=exc.strerror) from exc


def prepare(name: str, workspace: Workspace) -> tuple[Path, str, dict | None]:
    """(the serving folder, the model's id there, the best-rated setting or None): links to the model's files and
    a generation_config.json with the decoding defaults."""
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers import GenerationConfig

    source = models.resolve(name, workspace)
    if source.is_hub:
        raise UserError.coded("serve_hub_model", name=name)
    location = Path(source.location)
    if adapters.is_adapter_dir(location):
        raise UserError.coded("serve_adapter", name=name)
    served = served_name(name, location)
    root = workspace.root / "serving"
    folder = root / served
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.iterdir():  # only what this function made: links and the generation config
        if old.is_symlink() or old.name == "generation_config.json":
            old.unlink()
    for item in location.iterdir():
        if item.is_file() and item.name != "generation_config.json":
            (folder / item.name).symlink_to(item.resolve())
    try:
        generation = GenerationConfig.from_pretrained(location)
    except OSError:  # no generation_config.json: the model config's defaults, as from_pretrained does
        generation = GenerationConfig.from_model_config(models.load_config(name, workspace))
    best = write_settings.best_rated(workspace, name)
    if best is not None:
        generation.update(**{key: getattr(best, key) for key in GENERATION_KEYS})
    generation.save_pretrained(folder)
    return root, served, best.to_dict() if best else None


def serve(name: str, *, port: int = 8000, host: str = HOST, workspace: Workspace | None = None) -> None:
    """Serve `name` until interrupted (transformers serve, in this process)."""
    workspace = workspace or Workspace.from_env()
    check_port(host, port)
    root, served, best = prepare(name, workspace)
    defaults = f"decoding defaults: best-rated setting '{best['name']}'" if best else \
        "decoding defaults: the model's own (no ratings yet)"
    print(f"serving '{served}' on http://{host}:{port}/v1 (OpenAI-compatible); {defaults}", flush=True)
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers.cli.serve import Serve

    os.chdir(root)  # the model's id is its folder here, relative: the lab's name for it
    Serve(force_model=served, host=host, port=port, device="cpu" if not _has_cuda() else "auto",
          log_level="warning")


def _has_cuda() -> bool:
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    return torch.cuda.is_available()
