"""The run configuration (JSON round trip, presets, validation) and the memory estimate."""

import json

import pytest

from core.errors import UserError
from core.train.config import PRESETS, TrainConfig, apply_preset, check, require_valid
from core.train.memory import KNOWN, Architecture, estimate


def test_round_trip_and_unknown_options():
    config = TrainConfig(dataset="poems", learning_rate=3e-4, gallery_prompts=["月"])
    assert TrainConfig.from_dict(json.loads(config.to_json())) == config
    with pytest.raises(UserError, match=r"unknown option\(s\) lerning_rate"):
        TrainConfig.from_dict({"dataset": "x", "lerning_rate": 1})


@pytest.mark.parametrize("changes, code", [
    (dict(learning_rate=0.0), ("not_above", "learning_rate")),
    (dict(learning_rate=-1e-4), ("not_above", "learning_rate")),
    (dict(learning_rate=3.0), ("not_below", "learning_rate")),
    (dict(batch_size=0), ("too_small", "batch_size")),
    (dict(batch_size=1_000_000_000), ("too_large", "batch_size")),
    (dict(grad_accum=0), ("too_small", "grad_accum")),
    (dict(block_size=4), ("too_small", "block_size")),
    (dict(seed=-1), ("too_small", "seed")),
    (dict(seed=2**70), ("too_large", "seed")),
    (dict(save_total_limit=-1), ("too_small", "save_total_limit")),
    (dict(gallery_max_new_tokens=-1), ("too_small", "gallery_max_new_tokens")),
    (dict(max_steps=0, epochs=0), ("length", None)),
    (dict(dataset=""), ("no_dataset", None)),
    (dict(scheduler="zigzag"), ("unknown_choice", "scheduler")),
    (dict(method="lora", lora_dropout=1.0), ("not_below", "lora_dropout")),
])
def test_each_mistake_has_its_message(changes, code):
    config = TrainConfig(**{"dataset": "poems", **changes})
    assert [(p.code, p.values.get("field")) for p in check(config)] == [code]
    with pytest.raises(UserError):
        require_valid(config)


def test_every_declared_limit_is_checked_and_shown_in_both_languages():
    """The limits live in the fields' metadata only: breaking any of them is a problem naming that field, whose
    message the form shows in English and Chinese."""
    from dataclasses import fields

    from dashboard.i18n import LANGUAGES, texts

    for f in fields(TrainConfig):
        info, default = f.metadata, getattr(TrainConfig(), f.name)
        bad = []
        if info.get("min") is not None:
            bad.append(info["min"] - (1 if isinstance(default, int) else 0.5))
        if info.get("max") is not None:
            bad.append(info["max"] + 1)
        bad += [info[k] for k in ("above", "below") if info.get(k) is not None]
        if info.get("choices"):
            bad.append("nonsense")
        for value in bad:
            # e.g. the LoRA options, for a LoRA run (the first of the values the option applies to)
            when = {info["when"][0]: info["when"][1][0]} if info.get("when") else {}
            problems = [p for p in check(TrainConfig(dataset="d", **when, **{f.name: value}))
                        if p.values.get("field")]
            assert [p.values["field"] for p in problems] == [f.name], (f.name, value)
            for lang in LANGUAGES:
                assert texts(lang)[f"problem.{problems[0].code}"].format(**problems[0].values)


def test_optimizers_are_transformers_own_and_lora_targets_the_models():
    from transformers.training_args import OptimizerNames

    from core.train.config import OPTIMIZERS

    assert set(OPTIMIZERS) - {"auto", "muon"} <= {name.value for name in OptimizerNames}  # muon: core.train.muon
    config = TrainConfig(dataset="d", optim="bogus_optim", method="lora", lora_target_modules=["nonexistent_mod"])
    problems = check(config, modules=frozenset({"c_attn", "attn.c_attn"}))
    assert [(p.code, p.values.get("field")) for p in problems] == [("unknown_choice", "optim"), ("lora_target", None)]
    assert "nonexistent_mod" in problems[1].message and "c_attn" in problems[1].message


def test_block_size_above_the_context():
    problems = check(TrainConfig(dataset="d", block_size=1024), model_context=512)
    assert [p.code for p in problems] == ["block_size_context"] and "512" in problems[0].message


def test_presets_are_valid_and_keep_the_dataset():
    for name in PRESETS:
        config = apply_preset(TrainConfig(dataset="poems"), name)
        assert config.dataset == "poems" and check(config) == []
    assert apply_preset(TrainConfig(), "quick_cpu").model == "starter"


def test_oom_retry_keeps_the_effective_batch():
    config = TrainConfig(dataset="d", batch_size=8, grad_accum=2, resume_from="x")
    halved = config.halved_for_oom()
    assert (halved.batch_size, halved.grad_accum, halved.resume_from) == (4, 4, "")
    assert halved.effective_batch() == config.effective_batch()
    with pytest.raises(UserError):
        TrainConfig(batch_size=1).halved_for_oom()


def test_gpt2_parameters_and_memory():
    gpt2 = Architecture(**KNOWN["gpt2"])
    assert gpt2.parameters == 124_439_808  # what transformers reports for gpt2
    small = estimate(gpt2, block_size=512, batch_size=8, half_precision=True, gradient_checkpointing=False, on_gpu=True)
    big = estimate(gpt2, block_size=1024, batch_size=16, half_precision=True, gradient_checkpointing=False, on_gpu=True)
    saved = estimate(gpt2, block_size=1024, batch_size=16, half_precision=True, gradient_checkpointing=True, on_gpu=True)
    assert small.weights + small.gradients + small.optimizer == 16 * gpt2.parameters
    assert 4e9 < small.total < 16e9  # gpt2 at 8x512 in bf16 trains on a 16 GB card
    assert big.activations > 4 * small.activations  # quadratic attention: twice the length costs more than twice
    assert saved.activations < big.activations / 2  # the fp32 logits stay: they are most of what is left
    xl = estimate(Architecture(**KNOWN["gpt2-xl"]), block_size=1024, batch_size=8, half_precision=True,
                  gradient_checkpointing=False, on_gpu=True)
    assert xl.total > 24 * 2**30  # gpt2-xl does not fit a 24 GB card this way
