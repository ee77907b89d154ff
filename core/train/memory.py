"""Will it fit? Training memory of a GPT-2-style model: weights, gradients, AdamW state and activations.

Activations follow Korthikanti et al. (2022), "Reducing Activation Recomputation in Large Transformer Models":
per layer s·b·h·(34 + 5·a·s/h) bytes in 16-bit, plus the logits (b·s·vocab, kept in fp32 with their gradient).
With gradient checkpointing only each layer's input is kept, plus one layer's activations at a time.
It is an estimate (allocator slack and kernels' workspaces come on top), good to tell 'fits' from 'does not'.
"""

from __future__ import annotations

from dataclasses import dataclass

from core import models
from core.errors import UserError
from core.models import adapters
from core.models.loading import context_length

# Architectures of the models the lab names, for when their config cannot be read (offline, not cached).
KNOWN = {
    "gpt2": dict(n_layer=12, n_embd=768, n_head=12, vocab_size=50257, n_positions=1024),
    "distilgpt2": dict(n_layer=6, n_embd=768, n_head=12, vocab_size=50257, n_positions=1024),
    "gpt2-medium": dict(n_layer=24, n_embd=1024, n_head=16, vocab_size=50257, n_positions=1024),
    "gpt2-large": dict(n_layer=36, n_embd=1280, n_head=20, vocab_size=50257, n_positions=1024),
    "gpt2-xl": dict(n_layer=48, n_embd=1600, n_head=25, vocab_size=50257, n_positions=1024),
    "uer/gpt2-chinese-cluecorpussmall": dict(n_layer=12, n_embd=768, n_head=12, vocab_size=21128, n_positions=1024),
}
CUDA_CONTEXT_BYTES = 600 * 2**20  # what the CUDA context and library handles take before any tensor


@dataclass(frozen=True)
class Architecture:
    n_layer: int
    n_embd: int
    n_head: int
    vocab_size: int
    n_positions: int

    @property
    def parameters(self) -> int:
        h, layers = self.n_embd, self.n_layer
        return self.vocab_size * h + self.n_positions * h + layers * (12 * h * h + 13 * h) + 2 * h


@dataclass(frozen=True)
class MemoryEstimate:
    weights: int
    gradients: int
    optimizer: int
    activations: int
    overhead: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations + self.overhead


def architecture(config) -> Architecture:
    """From a transformers GPT-2-style config (or any object with its attribute names)."""
    return Architecture(
        n_layer=config.n_layer, n_embd=config.n_embd, n_head=config.n_head, vocab_size=config.vocab_size,
        n_positions=context_length(config),
    )


# in + out features of each adapted module, in units of n_embd, summed over the modules of that name in one layer
# (GPT-2's c_proj is both the attention's and the MLP's output); other names count as a square h x h layer.
LORA_WIDTHS = {"c_attn": 4, "c_proj": 7, "c_fc": 5, "q_proj": 2, "k_proj": 2, "v_proj": 2, "o_proj": 2}
LORA_DEFAULT_TARGETS = ("c_attn", "c_proj")  # what core.models.adapters.target_modules finds in a GPT-2


def lora_parameters(arch: Architecture, r: int, targets=()) -> int:
    """Trainable parameters of LoRA adapters of rank r: r x (in + out) per adapted module."""
    widths = sum(LORA_WIDTHS.get(name, 2) for name in (targets or LORA_DEFAULT_TARGETS))
    return arch.n_layer * r * widths * arch.n_embd


def estimate(arch: Architecture, *, block_size: int, batch_size: int, half_precision: bool,
             gradient_checkpointing: bool, on_gpu: bool, method: str = "full", lora_r: int = 8,
             lora_targets=()) -> MemoryEstimate:
    """With method lora the base weights are frozen (held once, no gradient, no optimizer state); gradients and
    AdamW moments are for the adapters' parameters only, which are also held on top of the weights."""
    params = arch.parameters
    trainable = lora_parameters(arch, lora_r, lora_targets) if method == "lora" else params
    weights = params + (trainable if method == "lora" else 0)
    s, b, h, a = block_size, batch_size, arch.n_embd, arch.n_head
    scale = 1 if half_precision else 2  # the paper's byte counts are for 16-bit activations
    per_layer = s * b * h * (34 + 5 * a * s / h) * scale
    if gradient_checkpointing:
        layers = arch.n_layer * s * b * h * 2 * scale + per_layer  # each layer's input, one layer live
    else:
        layers = arch.n_layer * per_layer
    logits = 2 * b * s * arch.vocab_size * 4  # fp32 logits and their gradient
    return MemoryEstimate(
        weights=weights * 4,  # fp32 master weights (mixed precision computes in 16-bit under autocast)
        gradients=trainable * 4,
        optimizer=trainable * 8,  # AdamW: two fp32 moments
        activations=int(layers + logits),
        overhead=CUDA_CONTEXT_BYTES if on_gpu else 0,
    )


def model_architecture(name: str, workspace=None, *, confined: bool = False) -> Architecture | None:
    """The architecture of a model name, read from its config without the network; None when unknown here.
    `confined`: a name a page was given (`core.models.resolve`)."""
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers import AutoConfig

    try:
        # a LoRA: its base's config
        source = adapters.config_source(models.resolve(name, workspace, confined=confined), workspace,
                                        confined=confined)
    except UserError:
        return None
    try:
        return architecture(AutoConfig.from_pretrained(source.location, local_files_only=True))
    except (OSError, AttributeError, ValueError):
        return Architecture(**KNOWN[name]) if name in KNOWN else None
