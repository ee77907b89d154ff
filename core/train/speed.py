"""What keeps a GPU busy, chosen for the device at hand: torch.compile, fused AdamW, TF32 matmuls, SDPA attention,
dataloader workers with pinned memory. On CUDA the "auto" options turn on where they help; on the CPU they resolve
off (torch.compile's minutes of compiling and worker processes cost more than they save in a CPU run of minutes),
except fused AdamW, which torch also has for the CPU.

A pure function of the configuration and a described device, so the choice is tested without a GPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from core.train.config import TrainConfig

MAX_WORKERS = 4  # batches are memmap slices: a few workers keep up with any GPU


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
        return {"torch_compile": self.compile, "optim": self.optim, "tf32": self.tf32 or None,
                "dataloader_num_workers": self.dataloader_workers, "dataloader_pin_memory": self.pin_memory,
                "dataloader_persistent_workers": self.dataloader_workers > 0}


def resolve(config: TrainConfig, device: Device) -> Speed:
    def switch(value: str, auto: bool) -> bool:
        return auto if value == "auto" else value == "on"

    tf32_capable = device.cuda and (device.capability or (0, 0)) >= (8, 0)
    workers = config.dataloader_workers
    if workers < 0:
        workers = min(MAX_WORKERS, max(0, device.cpus // 2)) if device.cuda else 0
    # Fused AdamW on the CPU too: torch has a fused CPU kernel, and it is transformers' own default there (today's path)
    optim = "adamw_torch_fused" if config.optim == "auto" else config.optim
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
