"""Loading a named model: from a local directory, or a hub model from the cache. A hub model that is not cached
first asks the hub once, with a short timeout, so that an offline user learns it in about a second instead of
after a minute of retries. Every way loading can fail becomes one UserError here, with the name and what to do.
"""

from __future__ import annotations

import pickle
from contextlib import contextmanager
from pathlib import Path

from core.errors import UserError, first_line
from core.models import adapters
from core.models.names import HUB_MODELS, ModelSource, resolve
from core.workspace import Workspace

HUB_PROBE_TIMEOUT_S = 1.5


def load(name: str, workspace: Workspace | None = None, *, for_training: bool = False, confined: bool = False,
         _adapters: tuple[Path, ...] = ()):
    """Load (tokenizer, model) for a model name. Raises UserError with what to do when it cannot. `confined`: a
    name a page was given (see `resolve`), which an adapter's base then obeys too."""
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = resolve(name, workspace, confined=confined)
    if not source.is_hub and adapters.is_adapter_dir(Path(source.location)):  # a LoRA checkpoint: base + adapter
        return adapters.load_with_adapter(Path(source.location), workspace, for_training=for_training,
                                          confined=confined, seen=_adapters)
    options = ensure_available(source) if source.is_hub else {}
    with _load_errors("model_unloadable", name, source):
        tokenizer = AutoTokenizer.from_pretrained(source.location, **options)
        model = AutoModelForCausalLM.from_pretrained(source.location, **options)
    if tokenizer.pad_token is None:
        # GPT-2 has no padding token; batches pad with end-of-text, masked out by the attention mask.
        tokenizer.pad_token = tokenizer.eos_token
    if not for_training:
        model.eval()
    return tokenizer, model


def load_tokenizer(name: str, workspace: Workspace | None = None, *, confined: bool = False):
    """Only the tokenizer of a model name (for chunking previews): small and quick, same rules as `load`."""
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers import AutoTokenizer

    source = resolve(name, workspace, confined=confined)
    options = ensure_available(source) if source.is_hub else {}
    with _load_errors("tokenizer_unloadable", name, source):
        return AutoTokenizer.from_pretrained(source.location, **options)


def load_config(name: str, workspace: Workspace | None = None, *, confined: bool = False):
    """Only the model's configuration (no weights): what its context length and size are read from."""
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers import AutoConfig

    # a LoRA: its base's configuration
    source = adapters.config_source(resolve(name, workspace, confined=confined), workspace, confined=confined)
    options = ensure_available(source) if source.is_hub else {}
    with _load_errors("model_config_unloadable", name, source):
        return AutoConfig.from_pretrained(source.location, **options)


def context_length(config) -> int | None:
    """How many tokens the model sees at once, from its config (GPT-2 says `n_positions`, others
    `max_position_embeddings`); None when it does not say."""
    return getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)


@contextmanager
def _load_errors(code: str, name: str, source: ModelSource):
    """Every way a broken or unreadable model directory fails inside transformers (a missing or truncated file,
    a config that is not JSON, a weights file safetensors or torch cannot read) as one UserError that says what."""
    # lazy: safetensors takes ~5 ms to import, and only this path needs it
    from safetensors import SafetensorError

    try:
        yield
    except UserError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError, EOFError, SafetensorError, pickle.UnpicklingError) as exc:
        where = "" if source.is_hub else f" ({source.location})"
        raise UserError.coded(code, name=name, where=where, reason=first_line(exc)) from exc


def ensure_available(source: ModelSource) -> dict:
    """Options for `from_pretrained` that load a hub model from the cache, or fail fast when the hub is out of reach."""
    # lazy: huggingface_hub takes ~5 ms to import, and only this path needs it
    from huggingface_hub import constants, try_to_load_from_cache

    cached = try_to_load_from_cache(source.location, "config.json")
    if isinstance(cached, str):
        return {"local_files_only": True}
    # A name without an owner that the lab does not offer is more likely a mistyped run than a hub model
    unknown = "/" not in source.name and source.name not in HUB_MODELS
    if constants.HF_HUB_OFFLINE:
        raise UserError.coded("run_or_model_offline" if unknown else "model_offline", name=source.name)
    status = probe_hub(source.location, constants.ENDPOINT)
    if status is None:
        raise UserError.coded("run_or_model_hub_unreachable" if unknown else "model_hub_unreachable", name=source.name,
                              hub=constants.ENDPOINT)
    if status in (401, 403):
        raise UserError.coded("model_gated", name=source.name)
    if status == 404:
        raise UserError.coded("run_or_model_not_on_hub" if unknown else "model_not_on_hub", name=source.name,
                              hub=constants.ENDPOINT)
    return {}


def probe_hub(repo_id: str, endpoint: str) -> int | None:
    """HTTP status of the model's hub page, or None when the hub does not answer within the timeout."""
    # lazy: huggingface_hub takes ~5 ms to import, and only this path needs it
    from huggingface_hub.utils import get_session

    try:  # the hub's own session, so proxies and mirrors (HF_ENDPOINT) are honoured
        return get_session().head(f"{endpoint}/api/models/{repo_id}", timeout=HUB_PROBE_TIMEOUT_S).status_code
    except Exception:  # noqa: BLE001 - any connection, TLS or timeout failure means "not reachable"
        return None
