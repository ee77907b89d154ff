"""What keeps a GPU busy, chosen for the device at hand: torch.compile, fused AdamW, TF32 matmuls, SDPA attention,
dataloader workers with pinned memory. On CUDA the "auto" options turn on where they help; on the CPU they resolve
off (torch.compile's minutes of compiling and worker processes cost more than they save in a CPU run of minutes),
except fused AdamW, which torch also has for the CPU. A model trained from scratch gets Muon (core.train.muon).

A pure function of the configuration and a described device, so the choice is tested without a GPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from core.train.config import TrainConfig

MAX_WORKERS = 4  # batches are memmap slices: a few workers keep up with any GPU
MUON = "muon"  # not one of transformers' optimizer names: the Trainer gets it as a factory (trainer_options)


@dataclass(frozen=True)
class Device:
    cuda: bool
    capability: tuple[int, int] | None = None  # CUDA compute capability; 8.0 (Ampere) and later have TF32
    cpus: int = 1

    @classmethod
    def current(cls, use_cpu: bool) -> Device:
        # lazy: torch takes ~1 s to import, and only this path needs it
        import torch

        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        if use_cpu or not torch.cuda.is_available():
            return cls(cuda=False, cpus=cpus)
        return cls(cuda=True, capability=torch.cuda.get_device_capability(), cpus=cpus)


@dataclass(frozen=True)
class Speed:
    compile: bool
    optim: str
    tf32: bool
    attn_implementation: str | None  # None: the model's own default
    dataloader_workers: int
    pin_memory: bool

    def training_arguments(self) -> dict:
        """The TrainingArguments these choices set."""
        # with Muon, transformers' own optimizer setting goes unused (trainer_options hands over the optimizer)
        optim = "adamw_torch_fused" if self.optim == MUON else self.optim
        return {"torch_compile": self.compile, "optim": optim, "tf32": self.tf32 or None,
                "dataloader_num_workers": self.dataloader_workers, "dataloader_pin_memory": self.pin_memory,
                "dataloader_persistent_workers": self.dataloader_workers > 0}

    def trainer_options(self, args) -> dict:
        """What the Trainer takes besides its arguments: Muon's factory, with the run's rate, decay and betas."""
        if self.optim != MUON:
            return {}
        # lazy: torch takes ~1 s to import, and only this path needs it
        from core.train.muon import MuonAdamWFactory

        return {"optimizer_cls_and_kwargs": (MuonAdamWFactory, {
            "lr": args.learning_rate, "weight_decay": args.weight_decay, "betas": (args.adam_beta1, args.adam_beta2),
            "eps": args.adam_epsilon})}


def resolve(config: TrainConfig, device: Device, *, scratch: bool = False) -> Speed:
    """The choices for this configuration on this device; `scratch`: the run trains a new model from random weights
    (core.train.sizing), which "auto" gives Muon."""
    def switch(value: str, auto: bool) -> bool:
        return auto if value == "auto" else value == "on"

    tf32_capable = device.cuda and (device.capability or (0, 0)) >= (8, 0)
    workers = config.dataloader_workers
    if workers < 0:
        workers = min(MAX_WORKERS, max(0, device.cpus // 2)) if device.cuda else 0
    # Muon for a model trained from scratch: more learnt per step (zh-poetry 2 min: 5.02 nats per character against
    # 5.18; tinyshakespeare 75 s: 1.60 against 1.69; BENCHMARKS.md) though a CPU step is ~25% slower. Otherwise
    # fused AdamW, on the CPU too: torch has a fused CPU kernel, and it is transformers' own default there.
    optim = config.optim
    if optim == "auto":
        optim = MUON if scratch else "adamw_torch_fused"
    attention = config.attn_implementation
    return Speed(
        compile=switch(config.compile, device.cuda),
        optim=optim,
        tf32=switch(config.tf32, tf32_capable) and tf32_capable,  # "on" where there is none would be an error
        attn_implementation=("sdpa" if device.cuda else None) if attention == "auto" else attention,
        dataloader_workers=workers,
        pin_memory=device.cuda,
    )


def apply_to_model(model, speed: Speed) -> None:
    if speed.attn_implementation:
        model.set_attn_implementation(speed.attn_implementation)
