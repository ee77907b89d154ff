"""`python -m core bench train`: our trainer's throughput against a plain `Trainer` script, MFU, and packing.

Both trainers run in this process on the same model directory, the same generated corpus, the same block size,
batch and step count, so the ratio compares the training loops and nothing else. Each is timed over its steady
state: the first `warmup_steps` steps (allocator, kernel choice, first batches) are left out.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
from itertools import chain
from pathlib import Path

from core import models
from core.bench.clean import generated_corpus
from core.data import dataset
from core.data.chunking import pack, pad_each, tokenize_documents
from core.data.corpus import sample_texts
from core.errors import UserError
from core.hardware import choose_precision
from core.models.starter import build_starter
from core.train import worker
from core.train.config import TrainConfig
from core.train.memory import KNOWN
from core.train.run_dir import RunDir
from core.train.speed import Device, resolve
from core.workspace import Workspace

SHARED = Path(__file__).resolve().parents[3] / "shared"  # beside the repository (a developer checkout only)
POETRY = SHARED / "data" / "zh-poetry" / "宋词三百首.json"
WARMUP_STEPS = 5
LEARNING_RATE = 1e-3  # the same for both trainers; throughput does not depend on it
BYTES_PER_TOKEN = 8  # generous for the starter's BPE on mixed English/Chinese text, so the corpus covers all steps


def bench_train(model: str = "starter", random_init: bool = False, precision: str = "auto", steps: int = 30,
                batch_size: int = 8, block_size: int = 128, warmup_steps: int = WARMUP_STEPS,
                compile: str = "auto") -> dict:
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    if steps < 2 or batch_size < 1 or block_size < 8 or warmup_steps < 1:
        raise UserError.coded("bench_train_sizes")
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    precision = choose_precision(precision, use_cpu=not torch.cuda.is_available())  # as the trainer decides it

    with tempfile.TemporaryDirectory(prefix="quill-bench-train-") as tmp:
        tmp = Path(tmp)
        starter = Workspace.from_env().starter_dir
        if not (starter / "config.json").is_file():
            build_starter(tmp / "starter")
            starter = tmp / "starter"
        model_dir = _model_dir(model, random_init, starter, tmp)
        tokenizer, parameters, matmul_parameters, config = _describe(model_dir)
        if block_size > config.n_positions:
            raise UserError.coded("eval_block_long", block_size=block_size, context=config.n_positions)
        flops_per_token = _flops_per_token(matmul_parameters, config.n_layer, config.n_embd, block_size)

        # Our trainer writes a metrics line every `logging` steps; the warm-up is rounded up to a multiple of it
        # and `logging` divides `steps`, so that both trainers are timed over exactly `steps` steps.
        logging = max(d for d in range(1, 6) if steps % d == 0)
        warmup_steps = -(-warmup_steps // logging) * logging
        total_steps = warmup_steps + steps
        megabytes = max(0.25, total_steps * batch_size * block_size * BYTES_PER_TOKEN / 1e6)
        texts = generated_corpus(megabytes)
        data_dir = tmp / "data"
        dataset.save(data_dir, texts, recipe={"bench": "generated"}, report={"bench": "generated", "megabytes": megabytes})
        train_texts = dataset.read_texts(data_dir)

        common = dict(model_dir=model_dir, data_dir=data_dir, train_texts=train_texts, tokenizer=tokenizer,
                      precision=precision, steps=steps, warmup_steps=warmup_steps, batch_size=batch_size,
                      block_size=block_size, logging=logging, compile=compile)
        with contextlib.redirect_stdout(sys.stderr):  # the trainers' prints must not mix into the JSON on stdout
            ours, ours_wall, speed = _run_ours(tmp / "run", **common)
            ours_gpu_gb = _peak_gpu_gb()
            baseline, baseline_wall = _run_baseline(tmp / "baseline", **common)
            peak = _matmul_peak(precision)
        fractions = _useful_fractions(starter, block_size)

    achieved = flops_per_token * ours
    return {
        "ours_tokens_per_s": round(ours, 1),
        "baseline_tokens_per_s": round(baseline, 1),
        "ratio": round(ours / baseline, 4),
        "mfu": round(achieved / peak, 4),
        "achieved_tflops": round(achieved / 1e12, 4),
        "peak_tflops": round(peak / 1e12, 4),
        "flops_per_token": flops_per_token,
        **fractions,
        "block_size": block_size,
        "device": device,
        "precision": precision,
        "model": model + (" (random init)" if random_init else ""),
        "parameters": parameters,
        "steps": steps,
        "warmup_steps": warmup_steps,
        "batch_size": batch_size,
        "threads": torch.get_num_threads(),
        "speed": speed,  # what the trainer chose: compile, optimizer, TF32, attention, loader workers
        "ours_peak_gpu_gb": ours_gpu_gb,
        "ours_wall_s": round(ours_wall, 2),  # the whole train() call: loading, tokenizing, final eval, gallery, saving
        "baseline_wall_s": round(baseline_wall, 2),  # dataset maps, Trainer set-up and train()
        "corpus_mb": round(megabytes, 2),
    }


def _model_dir(model: str, random_init: bool, starter: Path, tmp: Path) -> Path:
    """A local model directory both trainers load: the starter, a resolved name, or a freshly initialised config."""
    if not random_init:
        if model == models.STARTER:
            return starter
        source = models.resolve(model)
        if source.is_hub:  # load once here (from the cache, or fail fast offline), so both trainers read one directory
            tokenizer, loaded = models.load(model, for_training=True)
            loaded.save_pretrained(tmp / "model")
            tokenizer.save_pretrained(tmp / "model")
            return tmp / "model"
        return Path(source.location)

    # lazy: torch, transformers take ~2 s to import, and only this path needs them
    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    tokenizer = AutoTokenizer.from_pretrained(starter)
    if model in KNOWN:
        config = GPT2Config(**KNOWN[model])
    elif model == models.STARTER:
        config = GPT2Config.from_pretrained(starter)
    else:
        source = models.resolve(model)
        if source.is_hub:
            raise UserError.coded("bench_model_unknown", model=model, known=", ".join(KNOWN))
        config = GPT2Config.from_pretrained(source.location)
    # The starter's tokenizer (no download); its ids are all below any GPT-2 vocabulary size, so the model's
    # embedding and output layer keep the named architecture's full size (and cost).
    config.bos_token_id = config.eos_token_id = tokenizer.eos_token_id
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(tmp / "model")
    tokenizer.save_pretrained(tmp / "model")
    return tmp / "model"


def _describe(model_dir: Path):
    """(tokenizer, parameters, parameters without position embeddings, config) of a model directory."""
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    config = AutoConfig.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    parameters = sum(p.numel() for p in model.parameters())
    positions = model.transformer.wpe.weight.numel() if hasattr(model, "transformer") else 0
    del model
    return tokenizer, parameters, parameters - positions, config


def _flops_per_token(matmul_parameters: int, n_layer: int, n_embd: int, block_size: int) -> int:
    """Training FLOPs per token, as nanoGPT's estimate_mfu (PaLM appendix B) counts them.

    6·N for the weight matmuls (forward 2·N, backward 4·N), N = parameters without the position embeddings (a
    lookup, no matmul; the token embedding counts because the tied output layer multiplies by it), plus the
    attention term 12·n_layer·n_embd·block (scores and weighted values, forward and backward).
    """
    return 6 * matmul_parameters + 12 * n_layer * n_embd * block_size


def _run_ours(run_dir: Path, *, model_dir, data_dir, precision, steps, warmup_steps, batch_size, block_size, logging,
              compile, **_):
    """Our trainer, in-process, on a run directory of its own; tokens/s from its metrics.jsonl.

    Measured by wall time: from the `time` of the metrics line at the last warm-up step to that of the last step
    (both written right after their step), so loading, tokenizing, the final evaluation, the gallery and saving
    stay outside, while everything between steps (data loading, logging, status.json) counts, as it does for the
    baseline. (The lines' own `tokens_per_s` counts only the time inside steps; it is the fallback.)
    """
    run_dir.mkdir(parents=True)
    config = TrainConfig(
        dataset=str(data_dir), model=str(model_dir), block_size=block_size, max_steps=warmup_steps + steps,
        learning_rate=LEARNING_RATE, batch_size=batch_size, grad_accum=1,
        eval_steps=warmup_steps + steps + 1,  # no evaluation inside the measured steps (one comes at the end)
        logging_steps=logging, save_total_limit=1, precision=precision, device="auto",
        gallery_prompts=["The lighthouse keeper"], gallery_max_new_tokens=8, compile=compile,
    )
    RunDir(run_dir).write_config(config)
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    speed = worker.describe_speed(resolve(config, Device.current(use_cpu=not torch.cuda.is_available())))
    started = time.perf_counter()
    worker.train(run_dir)
    wall = time.perf_counter() - started
    lines = RunDir(run_dir).metrics().records
    return _steady_tokens_per_s(lines, warmup_steps, batch_size * block_size, run_dir), wall, speed


def _peak_gpu_gb() -> float | None:
    """Peak GPU memory torch allocated so far in this process (our trainer runs first), or None on the CPU."""
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    if not torch.cuda.is_available():
        return None
    peak = torch.cuda.max_memory_allocated() / 2**30
    torch.cuda.reset_peak_memory_stats()
    return round(peak, 2)


def _steady_tokens_per_s(lines: list[dict], warmup_steps: int, tokens_per_step: int, run_dir: Path) -> float:
    train = {}
    for line in lines:  # training lines (an evaluation line carries eval_loss); the last one per step wins
        if line.get("loss") is not None and line.get("eval_loss") is None and line.get("step") is not None:
            train[int(line["step"])] = line
    steady = [train[s] for s in sorted(train) if s >= warmup_steps]
    if len(steady) >= 2 and all(isinstance(line.get("time"), (int, float)) for line in steady):
        first, last = steady[0], steady[-1]
        if last["time"] > first["time"]:
            return (last["step"] - first["step"]) * tokens_per_step / (last["time"] - first["time"])
    rates = [line["tokens_per_s"] for line in steady[1:] if line.get("tokens_per_s")]
    if not rates:
        log = RunDir(run_dir).log_tail(20)
        raise UserError(f"our trainer wrote no steady-state metrics lines ({len(lines)} lines in all): {log}")
    return sum(rates) / len(rates)


def _run_baseline(out: Path, *, model_dir, train_texts, tokenizer, precision, steps, warmup_steps, batch_size, logging,
                  block_size, **_):
    """A plain `Trainer`, written the way transformers' examples/pytorch/language-modeling/run_clm.py writes it.

    Timed by a callback from the end of the last warm-up step to the end of the last step (CUDA synchronised),
    the same window as ours.
    """
    # lazy: torch, datasets, transformers take ~2 s to import, and only this path needs them
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments, default_data_collator

    def tokenize_function(examples):
        return tokenizer(examples["text"])

    def group_texts(examples):  # run_clm.py's, verbatim in substance
        concatenated = {k: list(chain(*examples[k])) for k in examples.keys()}
        total_length = len(concatenated[list(examples.keys())[0]])
        total_length = (total_length // block_size) * block_size
        result = {k: [t[i : i + block_size] for i in range(0, total_length, block_size)]
                  for k, t in concatenated.items()}
        result["labels"] = result["input_ids"].copy()
        return result

    class StepTimes(TrainerCallback):
        def __init__(self):
            self.times = {}

        def on_step_end(self, args, state, control, **kwargs):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.times[state.global_step] = time.perf_counter()

    started = time.perf_counter()
    raw = Dataset.from_dict({"text": train_texts})
    tokenized = raw.map(tokenize_function, batched=True, remove_columns=["text"])
    lm_dataset = tokenized.map(group_texts, batched=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    args = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=batch_size, max_steps=warmup_steps + steps,
        learning_rate=LEARNING_RATE, lr_scheduler_type="cosine", warmup_steps=0.05, save_strategy="no",
        eval_strategy="no", logging_steps=logging, report_to="none", bf16=precision == "bf16", fp16=precision == "fp16",
        seed=42, disable_tqdm=True,
    )
    timer = StepTimes()
    trainer = Trainer(model=model, args=args, train_dataset=lm_dataset, processing_class=tokenizer,
                      data_collator=default_data_collator, callbacks=[timer])
    trainer.train()
    wall = time.perf_counter() - started
    last = warmup_steps + steps
    return steps * batch_size * block_size / (timer.times[last] - timer.times[warmup_steps]), wall


def _matmul_peak(precision: str) -> float:
    """This machine's measured matmul FLOP/s: fp32 2048² on the CPU (all of torch's threads); on a GPU bf16 (or
    fp16) 8192² when training in half precision, else fp32 8192² (with whatever TF32 setting torch has now)."""
    # lazy: torch takes ~1 s to import, and only this path needs it
    import torch

    if torch.cuda.is_available():
        n, dtype, device = 8192, {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32), "cuda"
    else:
        n, dtype, device = 2048, torch.float32, "cpu"
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    for _ in range(3):  # warm-up
        torch.matmul(a, b)
    sync()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < 1.0:
        for _ in range(4 if device == "cpu" else 20):
            torch.matmul(a, b)
        count += 4 if device == "cpu" else 20
        sync()
    return 2 * n**3 * count / (time.perf_counter() - started)


def poetry_texts() -> tuple[str, list[str]]:
    """The Song ci of 宋词三百首 (paragraphs joined per poem) when ../shared has them, else the sample corpus."""
    if POETRY.is_file():
        poems = json.loads(POETRY.read_text(encoding="utf-8"))
        return "宋词三百首.json", ["".join(p["paragraphs"]) for p in poems if p.get("paragraphs")]

    return "sample corpus", sample_texts()


def _useful_fractions(starter: Path, block_size: int) -> dict:
    """Share of non-padding tokens in the blocks: packed (run_clm.py style) vs one padded block per poem (the tutorial)."""
    # lazy: transformers takes ~650 ms to import, and only this path needs it
    from transformers import AutoTokenizer

    name, texts = poetry_texts()
    tokenizer = AutoTokenizer.from_pretrained(starter)
    ids = tokenize_documents(tokenizer, texts)
    eos = tokenizer.eos_token_id
    packed = pack(ids, block_size, eos)
    padded = pad_each(ids, block_size, pad_id=eos, eos_id=eos)
    return {
        "packed_useful_fraction": round(packed.useful_tokens / (len(packed.blocks) * block_size), 4),
        "padded_useful_fraction": round(padded.useful_tokens / (len(padded.blocks) * block_size), 4),
        "padded_truncated_tokens": padded.truncated_tokens,
        "poetry_corpus": name,
        "poetry_documents": len(texts),
    }
