"""The GPU-speed options (core.train.speed): chosen per described device, so CUDA's choices are tested without a GPU,
and carried into the Trainer's arguments."""

from __future__ import annotations

import pytest

from core.train import worker
from core.train.config import TrainConfig, check
from core.train.speed import Device, resolve

H200 = Device(cuda=True, capability=(9, 0), cpus=16)
V100 = Device(cuda=True, capability=(7, 0), cpus=8)
CPU = Device(cuda=False, cpus=2)


def test_auto_turns_everything_on_for_a_recent_gpu_and_off_on_the_cpu():
    gpu = resolve(TrainConfig(), H200)
    assert (gpu.compile, gpu.optim, gpu.tf32, gpu.attn_implementation) == (True, "adamw_torch_fused", True, "sdpa")
    assert (gpu.dataloader_workers, gpu.pin_memory) == (4, True)
    cpu = resolve(TrainConfig(), CPU)
    assert (cpu.compile, cpu.tf32, cpu.attn_implementation, cpu.dataloader_workers, cpu.pin_memory) == (
        False, False, None, 0, False)
    assert cpu.optim == "adamw_torch_fused"  # transformers' own default on the CPU: today's path, unchanged


def test_tf32_only_where_the_gpu_has_it_and_explicit_choices_win():
    assert not resolve(TrainConfig(tf32="on"), V100).tf32  # before Ampere there is no TF32 to turn on
    assert resolve(TrainConfig(), V100).compile
    chosen = resolve(TrainConfig(compile="off", optim="adamw_torch", attn_implementation="eager",
                                 dataloader_workers=1), H200)
    assert (chosen.compile, chosen.optim, chosen.attn_implementation, chosen.dataloader_workers) == (
        False, "adamw_torch", "eager", 1)
    assert resolve(TrainConfig(compile="on", dataloader_workers=2), CPU).compile


def test_the_choices_reach_the_training_arguments(tmp_path):
    config = TrainConfig(compile="on", optim="adamw_torch", dataloader_workers=1)
    args = worker._arguments(tmp_path, config, learning_rate=1e-3, use_cpu=True, precision="fp32", world=1)
    assert args.torch_compile and args.optim == "adamw_torch"
    assert (args.dataloader_num_workers, args.dataloader_persistent_workers, args.dataloader_pin_memory) == (
        1, True, False)


@pytest.mark.parametrize("changes, code", [
    (dict(compile="maybe"), "compile"), (dict(tf32="yes"), "tf32"), (dict(attn_implementation="flash"),
                                                                     "attn_implementation"),
    (dict(dataloader_workers=-2), "dataloader_workers"), (dict(nodes=2, node_rank=2), "nodes"),
    (dict(nodes=2), "main_process_ip"), (dict(main_process_port=70000), "main_process_port"),
])
def test_bad_speed_and_node_options_are_named(changes, code):
    assert code in [p.values.get("field", p.code) for p in check(TrainConfig(dataset="d", **changes))]
