"""Models named the Hugging Face way: `names` resolves a name (a hub id, `starter`, a run or one of its
checkpoints, a local directory) without the network, `loading` loads it, `checkpoints` says what on disk makes a
model. The names most callers use are re-exported here, so `models.resolve(...)` / `models.load(...)` read as one
concept at the call site."""

from core.models.checkpoints import is_model_dir
from core.models.loading import context_length, ensure_available, load, load_config, load_tokenizer, probe_hub
from core.models.names import (
    HUB_MODELS,
    STARTER,
    ModelSource,
    check_page_model,
    local_models,
    looks_like_path,
    resolve,
    training_dataset,
)

__all__ = ["HUB_MODELS", "STARTER", "ModelSource", "check_page_model", "context_length", "ensure_available", "is_model_dir", "load",
           "load_config", "load_tokenizer", "local_models", "looks_like_path", "probe_hub", "resolve", "training_dataset"]
