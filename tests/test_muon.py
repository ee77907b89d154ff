"""Muon for a model trained from scratch (core.train.muon): which weights it trains, that a checkpoint's optimizer
state carries a run on exactly where it was, that the run's schedule reaches both halves, and that a from-scratch
run chooses it, saves it and resumes with it."""

from __future__ import annotations

import copy

import pytest

from core.train.config import TrainConfig, check
from core.train.sizing import embedding_rate_for
from core.train.speed import MUON, Device, resolve
from tests.conftest import run_core

CPU = Device(cuda=False, cpus=2)


def _tiny_model():
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=50, n_positions=16,
                                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0))


def _steps(model, optimizer, batch, count: int) -> None:
    for _ in range(count):
        model(batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def test_muon_trains_the_blocks_matrices_and_adamw_the_embeddings_and_the_rest():
    from core.train.muon import MuonAdamW, hidden_matrices

    model = _tiny_model()
    names = hidden_matrices(model)
    assert names == [f"transformer.h.{layer}.{part}.weight" for layer in (0, 1)
                     for part in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")]
    optimizer = MuonAdamW(model, lr=1e-3, weight_decay=0.1)
    by_id = {id(p): n for n, p in model.named_parameters()}
    muon = {by_id[id(p)] for group in optimizer.muon.param_groups for p in group["params"]}
    adamw = {by_id[id(p)] for group in optimizer.adamw.param_groups for p in group["params"]}
    assert muon == set(names) and muon.isdisjoint(adamw) and muon | adamw == set(by_id.values())
    assert "transformer.wte.weight" in adamw and "transformer.wpe.weight" in adamw  # the head is tied to wte
    no_decay = {by_id[id(p)] for p in optimizer.adamw.param_groups[1]["params"]}
    assert no_decay and all(name.endswith(".bias") or ".ln_" in name for name in no_decay)


def test_stacked_muon_takes_torchs_muon_steps_exactly():
    """StackedMuon orthogonalises the matrices of one shape together; what it does to them is torch.optim.Muon's."""
    import torch

    from core.train.muon import StackedMuon, hidden_matrices

    model = _tiny_model()
    hidden = set(hidden_matrices(model))
    matrices = [p.detach() for name, p in model.named_parameters() if name in hidden]
    generator = torch.Generator().manual_seed(2)
    gradients = [[torch.randn(m.shape, generator=generator) for m in matrices] for _ in range(3)]
    results = []
    bf16 = {"orthogonal_dtype": torch.bfloat16}  # torch's Muon orthogonalises in bf16 on every device
    for kind, options in ((torch.optim.Muon, {}), (StackedMuon, bf16), (torch.optim.Muon, {"nesterov": False}),
                          (StackedMuon, {"nesterov": False, **bf16}), (StackedMuon, {})):
        params = [m.clone().requires_grad_() for m in matrices]
        optimizer = kind(params, lr=0.02, weight_decay=0.1, adjust_lr_fn="match_rms_adamw", **options)
        for step in gradients:
            for p, g in zip(params, step, strict=True):
                p.grad = g.clone()
            optimizer.step()
        results.append(params)
    for torchs, stacked in (results[0:2], results[2:4]):
        for a, b in zip(torchs, stacked, strict=True):
            assert torch.equal(a, b)
    assert not torch.equal(results[0][0], matrices[0]) and not torch.equal(results[0][0], results[2][0])
    # on a CPU by default in float32 (bf16 matrix products are ~20x slower on a CPU without bf16 instructions):
    # the same steps to within bf16's rounding, and not bf16's bits
    for start, torchs, cpu in zip(matrices, results[0], results[4], strict=True):
        step = (torchs - start).abs().max()
        assert (cpu - torchs).abs().max() < 0.05 * step
    assert not all(torch.equal(a, b) for a, b in zip(results[0], results[4], strict=True))


def test_a_saved_optimizer_state_goes_on_exactly_where_it_was(tmp_path):
    """What a checkpoint and a resume do: the state written after 3 steps, loaded into a new optimizer over the
    saved weights, takes the same next 3 steps as the optimizer that never stopped."""
    import torch
    from torch.optim.lr_scheduler import LambdaLR

    from core.train.muon import MUON_RATE, MuonAdamW

    batch = torch.randint(0, 50, (4, 16), generator=torch.Generator().manual_seed(1))
    straight = _tiny_model()
    optimizer = MuonAdamW(straight, lr=3e-3, weight_decay=0.1)
    _steps(straight, optimizer, batch, 3)
    torch.save(optimizer.state_dict(), tmp_path / "optimizer.pt")
    resumed = copy.deepcopy(straight)
    _steps(straight, optimizer, batch, 3)

    again = MuonAdamW(resumed, lr=3e-3, weight_decay=0.1)
    again.load_state_dict(torch.load(tmp_path / "optimizer.pt", weights_only=True))
    assert {"momentum_buffer", "exp_avg"} <= {key for state in again.state.values() for key in state}
    _steps(resumed, again, batch, 3)
    for (name, a), b in zip(straight.named_parameters(), resumed.parameters(), strict=True):
        assert torch.equal(a, b), name

    LambdaLR(again, lambda _step: 0.25)  # the run's schedule reaches Muon's groups and AdamW's
    assert {group["lr"] for group in again.adamw.param_groups} == {3e-3 * 0.25}
    assert {group["lr"] for group in again.muon.param_groups} == {MUON_RATE * 3e-3 * 0.25}


def test_auto_gives_muon_to_a_model_trained_from_scratch_only():
    assert resolve(TrainConfig(), CPU, scratch=True).optim == MUON
    assert resolve(TrainConfig(), CPU).optim == "adamw_torch_fused"  # fine-tuning a trained model: unchanged
    assert resolve(TrainConfig(optim="adamw_torch"), CPU, scratch=True).optim == "adamw_torch"  # as asked
    chosen = resolve(TrainConfig(), CPU, scratch=True)
    assert chosen.training_arguments()["optim"] == "adamw_torch_fused"  # transformers' own setting, unused

    class Args:
        learning_rate, weight_decay, adam_beta1, adam_beta2, adam_epsilon = 2e-3, 0.1, 0.9, 0.99, 1e-8

    factory, kwargs = chosen.trainer_options(Args)["optimizer_cls_and_kwargs"]
    assert kwargs == {"lr": 2e-3, "weight_decay": 0.1, "betas": (0.9, 0.99), "eps": 1e-8}
    assert type(factory()(_tiny_model(), **kwargs)).__name__ == "MuonAdamW"
    assert resolve(TrainConfig(), CPU).trainer_options(Args) == {}


def test_muon_is_refused_for_preference_tuning_with_what_to_choose():
    problems = check(TrainConfig(method="dpo", pairs="ratings", optim="muon"))
    assert [(p.code, p.values.get("field")) for p in problems] == [("muon_preference", "optim")]
    assert "adamw_torch_fused" in problems[0].message


@pytest.mark.slow
def test_a_from_scratch_run_trains_with_muon_saves_its_state_and_resumes(workspace):
    import torch

    from core.data import dataset
    from core.train import runs

    poems = ["床前明月光，疑是地上霜。举头望明月，低头思故乡。", "白日依山尽，黄河入海流。欲穷千里目，更上一层楼。"] * 4
    dataset.save(workspace.datasets_dir / "poems", poems, recipe={}, report={}, ratio=0.25, seed=0)
    args = ("--data", "poems", "--model", "starter", "--scratch-size", "2x32", "--max-steps", "8", "--eval-steps", "4",
            "--batch-size", "2", "--block-size", "16", "--device", "cpu", "--gallery-prompts", "床",
            "--gallery-max-new-tokens", "2", "--name", "muon")
    failed = run_core(workspace, "train", *args, QUILL_FAULT="error@6")  # after checkpoint-4: a run to resume
    run_dir = workspace.runs_dir / "muon"
    assert failed.returncode != 0 and runs.status(run_dir)["state"] == "failed", failed.stderr
    state = torch.load(run_dir / "checkpoint-4" / "optimizer.pt", weights_only=True)["state"]
    assert {"momentum_buffer", "exp_avg"} <= {key for values in state.values() for key in values}
    # two passes over the poems: the embeddings learn at sizing.embedding_rate_for them, in the schedule's state too
    planned = runs.status(run_dir)["epochs_planned"]
    assert planned < 10 and runs.status(run_dir)["embedding_rate"] == embedding_rate_for(planned) == 3.0
    assert _embedding_rates(run_dir / "checkpoint-4") == (3.0, 3.0)

    resumed = run_core(workspace, "resume", "muon")
    assert resumed.returncode == 0, resumed.stderr + runs.log_tail(run_dir)
    status = runs.status(run_dir)
    assert (status["state"], status["step"], status["resumed_from"]) == ("completed", 8, "checkpoint-4")
    log = (run_dir / "train.log").read_text(encoding="utf-8")
    assert log.count(", muon, ") == 2  # the first start and the resume each said what they train with
    assert log.count("the embeddings learn at 3x the run's rate") == 1
    assert _embedding_rates(run_dir / "checkpoint-8")[1] == 3.0  # the resume kept it (the last step's rate is 0)


def _embedding_rates(checkpoint):
    """(the embeddings' rate, their base rate in the schedule) over the biases' and norms' in a checkpoint."""
    import torch

    from core.train.muon import EMBEDDINGS

    groups = torch.load(checkpoint / "optimizer.pt", weights_only=True)["param_groups"]
    base_lrs = torch.load(checkpoint / "scheduler.pt", weights_only=True)["base_lrs"]
    embeddings = next(i for i, group in enumerate(groups) if group.get("name") == EMBEDDINGS)
    norms = len(groups) - 1  # AdamW's last group: biases and norms, at the run's rate
    now = groups[embeddings]["lr"] / groups[norms]["lr"] if groups[norms]["lr"] else None
    return (now and round(now, 6), round(base_lrs[embeddings] / base_lrs[norms], 6))


def test_a_run_of_few_passes_gives_the_embeddings_a_larger_rate():
    rates = [embedding_rate_for(epochs) for epochs in (0.5, 3, 9.9, 10, 16, 80)]
    assert rates[:3] == [3.0] * 3 and rates[3:] == [1.0] * 3  # many passes: the run's rate, or it learns by heart


def test_a_model_trained_from_scratch_gets_weight_decay_unless_one_is_given(tmp_path):
    from core.train import worker
    from core.train.sizing import SCRATCH_WEIGHT_DECAY

    def decay(config, scratch):
        return worker._arguments(tmp_path, config, learning_rate=1e-3, use_cpu=True, precision="fp32", world=1,
                                 scratch=scratch).weight_decay

    assert decay(TrainConfig(), scratch=True) == SCRATCH_WEIGHT_DECAY > 0
    assert decay(TrainConfig(), scratch=False) == 0.0  # fine-tuning a trained model: none, as before
    assert decay(TrainConfig(weight_decay=0.0), scratch=True) == 0.0  # as given
    assert decay(TrainConfig(weight_decay=0.3), scratch=False) == 0.3
