"""What this machine can train on: CPU, memory, CUDA GPUs with their free memory, or Apple's MPS."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field

import psutil

from core.errors import UserError

PRECISIONS = ["auto", "fp32", "bf16", "fp16"]  # the training precision settings; see choose_precision


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class Hardware:
    cpu_name: str
    cpu_cores: int
    ram_total_bytes: int
    ram_available_bytes: int
    gpus: list[Gpu] = field(default_factory=list)
    mps: bool = False

    @property
    def accelerator(self) -> str:
        """'cuda', 'mps' or 'cpu': where training runs by default."""
        return "cuda" if self.gpus else "mps" if self.mps else "cpu"


def detect() -> Hardware:
    import torch  # imported here: torch takes seconds to import, and callers may not need it otherwise

    gpus = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(i)
            gpus.append(Gpu(index=i, name=torch.cuda.get_device_name(i), total_bytes=total, free_bytes=free))
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    memory = psutil.virtual_memory()
    return Hardware(
        cpu_name=_cpu_name(),
        cpu_cores=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
        ram_total_bytes=memory.total,
        ram_available_bytes=memory.available,
        gpus=gpus,
        mps=mps,
    )


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def format_bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def choose_precision(precision: str, *, use_cpu: bool) -> str:
    """The precision to train in ("fp32", "bf16" or "fp16") for a setting of auto/fp32/bf16/fp16: the one rule that
    the trainer and the training benchmark share. auto is bf16 where the GPU has it, fp16 on older CUDA GPUs, fp32
    on the CPU."""
    if precision not in PRECISIONS:
        raise UserError.coded("precision_unknown", precision=precision, precisions=", ".join(PRECISIONS))
    if precision == "auto":
        if use_cpu:
            return "fp32"
        # lazy: torch takes ~1 s to import, and only this path needs it
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if precision == "fp16" and use_cpu:
        raise UserError.coded("fp16_needs_gpu")
    return precision
