"""`python -m core sample` and `python -m core bench sample`, run as a user runs them: subprocesses on the starter."""

from __future__ import annotations

import json
import shutil

import pytest

from core.playground.sampling import DecodingConfig
from tests.conftest import run_core

STAT_KEYS = {"length_tokens", "distinct_1", "distinct_2", "repetition_rate", "mean_logprob", "perplexity",
             "longest_shared_chars", "memorized"}
LINE_KEYS = {"prompt", "model", "config_name", "settings", "sample_index", "seed", "text", "stats", "source"}
CONFIGS = [
    {"name": "greedy", "do_sample": False, "max_new_tokens": 24, "num_samples": 2, "seed": 0},
    {"name": "top-k 40", "do_sample": True, "top_k": 40, "max_new_tokens": 24, "num_samples": 2, "seed": 7},
    {"name": "hot top-p", "do_sample": True, "temperature": 1.3, "top_p": 0.9, "repetition_penalty": 1.2,
     "no_repeat_ngram_size": 3, "max_new_tokens": 16, "num_samples": 2, "seed": 3},
]
PROMPT = "The old lighthouse keeper"


def sample(tmp_path, *args, configs=CONFIGS, out="out.jsonl"):
    config_file = tmp_path / "configs.json"
    config_file.write_text(json.dumps(configs), encoding="utf-8")
    result = run_core("sample", "--configs", str(config_file), "--out", str(tmp_path / out), *args)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (tmp_path / out).read_text(encoding="utf-8").splitlines()]
    return result, lines


def test_sample_writes_one_line_per_sample_and_reproduces(workspace, tmp_path):
    result, lines = sample(tmp_path, "--model", "starter", "--prompt", PROMPT, "--prompt", "春风")
    assert len(lines) == 2 * 3 * 2
    for line in lines:
        assert LINE_KEYS <= set(line) and STAT_KEYS <= set(line["stats"]), line.keys()
        assert line["source"] == "cli" and line["checkpoint"] is not None
        assert line["model"] == "starter"
        config = next(c for c in CONFIGS if c["name"] == line["config_name"])
        assert line["settings"] == DecodingConfig.from_dict(config).to_dict()  # every setting, defaults included
        assert line["seed"] == line["settings"]["seed"]
        assert 1 <= line["stats"]["length_tokens"] <= line["settings"]["max_new_tokens"]
        assert line["stats"]["perplexity"] > 1 and line["stats"]["mean_logprob"] < 0
        assert line["stats"]["longest_shared_chars"] is None and line["stats"]["memorized"] is None  # starter: no training data
        assert not line["text"].startswith(line["prompt"])  # the continuation only
    assert [(line["prompt"], line["config_name"], line["sample_index"]) for line in lines] == [
        (p, c["name"], i) for p in (PROMPT, "春风") for c in CONFIGS for i in range(2)]
    settings = {line["config_name"]: line["settings"] for line in lines}
    assert settings["hot top-p"]["temperature"] == 1.3 and settings["hot top-p"]["no_repeat_ngram_size"] == 3
    assert settings["top-k 40"]["top_k"] == 40 and settings["greedy"]["do_sample"] is False

    by_key = {(line["prompt"], line["config_name"], line["sample_index"]): line["text"] for line in lines}
    for prompt in (PROMPT, "春风"):
        assert by_key[prompt, "greedy", 0] == by_key[prompt, "greedy", 1]
        assert by_key[prompt, "top-k 40", 0] != by_key[prompt, "top-k 40", 1]  # two rows, two generators

    # The human summary: each setting with the start of its first sample.
    for config in CONFIGS:
        assert config["name"] in result.stdout
    assert "wrote 12 samples" in result.stdout

    # Seeded sampling reproduces in a second invocation, here with the configs in another order and alone.
    _, again = sample(tmp_path, "--model", "starter", "--prompt", PROMPT, configs=CONFIGS[::-1], out="again.jsonl")
    for line in again:
        assert line["text"] == by_key[PROMPT, line["config_name"], line["sample_index"]]


def test_prompt_file_and_memorization_against_a_runs_dataset(workspace, tmp_path):
    greedy = [CONFIGS[0] | {"num_samples": 1, "max_new_tokens": 80}]  # over 50 characters: the memorization threshold
    _, (first,) = sample(tmp_path, "--model", "starter", "--prompt", PROMPT, configs=greedy)
    assert len(first["text"]) > 50

    # A run fine-tuned on a dataset that holds that very text: its greedy sample is flagged as memorized.
    data = workspace.root / "datasets" / "copied"
    data.mkdir(parents=True)
    docs = ["Something else entirely, nothing like it.", PROMPT + first["text"] + " And so on."]
    (data / "data.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in docs), encoding="utf-8")
    run = workspace.root / "runs" / "lighthouse"
    shutil.copytree(workspace.root / "models" / "starter", run / "checkpoint-10")
    (run / "checkpoint-10" / "trainer_state.json").write_text('{"global_step": 10}')  # a complete checkpoint
    for name in ("optimizer.pt", "scheduler.pt"):
        (run / "checkpoint-10" / name).write_bytes(b"x")
    (run / "config.json").write_text(json.dumps({"dataset": "copied", "model": "starter"}), encoding="utf-8")
    prompt_file = tmp_path / "prompt.txt"
    prompt_file.write_text(PROMPT + "\n", encoding="utf-8")

    for model in ("lighthouse", "lighthouse/checkpoint-10"):
        _, (line,) = sample(tmp_path, "--model", model, "--prompt-file", str(prompt_file), configs=greedy,
                            out=f"{model.replace('/', '-')}.jsonl")  # --out refuses an existing file
        assert line["prompt"] == PROMPT and line["model"] == model
        assert line["text"] == first["text"]
        assert line["stats"]["memorized"] is True and line["stats"]["longest_shared_chars"] == len(first["text"])
        assert line["stats"]["memorization_data"].endswith("copied")

    # Any model, against a dataset named on the command line; a short overlap is not flagged.
    other = workspace.root / "datasets" / "other"
    other.mkdir(parents=True)
    (other / "data.jsonl").write_text(json.dumps({"text": first["text"][:20]}) + "\n", encoding="utf-8")
    _, (line,) = sample(tmp_path, "--model", "starter", "--prompt", PROMPT, "--memorization-data", "other", out="other.jsonl",
                        configs=greedy)
    assert line["stats"]["longest_shared_chars"] == 20 and line["stats"]["memorized"] is False


def test_stream_prints_the_first_sample_in_whole_characters(workspace, tmp_path):
    # The untrained starter, sampled hot, picks byte pieces: streamed and saved text still shows whole characters.
    hot = {"name": "hot", "do_sample": True, "temperature": 1.5, "max_new_tokens": 40, "num_samples": 3, "seed": 5}
    result, lines = sample(tmp_path, "--model", "starter", "--prompt", "明月", "--stream", configs=[hot, CONFIGS[0]])
    assert f"hot: 明月{lines[0]['text']}\n" in result.stdout
    assert result.stdout.index("hot: 明月") < result.stdout.index("wrote 5 samples")
    assert "\ufffd" not in result.stdout + "".join(line["text"] for line in lines)


@pytest.mark.parametrize("problem", ["missing", "bad_json", "unknown_key", "not_a_list", "no_name", "bad_value",
                                     "bad_model", "broken_model", "no_prompt", "no_dataset"])
def test_bad_input_is_one_error_line(workspace, tmp_path, problem):
    configs = tmp_path / "configs.json"
    configs.write_text(json.dumps(CONFIGS), encoding="utf-8")
    args = {"--model": "starter", "--prompt": PROMPT, "--configs": str(configs), "--out": str(tmp_path / "o.jsonl")}
    if problem == "missing":
        args["--configs"] = str(tmp_path / "nope.json")
    elif problem == "bad_json":
        configs.write_text('[{"name": "greedy",}]', encoding="utf-8")
    elif problem == "unknown_key":
        configs.write_text(json.dumps([{"name": "x", "top_kk": 5}]), encoding="utf-8")
    elif problem == "not_a_list":
        configs.write_text(json.dumps({"name": "x"}), encoding="utf-8")
    elif problem == "no_name":
        configs.write_text(json.dumps([{"do_sample": True}]), encoding="utf-8")
    elif problem == "bad_value":
        configs.write_text(json.dumps([{"name": "x", "do_sample": True, "top_p": 1.5}]), encoding="utf-8")
    elif problem == "bad_model":
        args["--model"] = str(tmp_path / "no-such-model")
    elif problem == "broken_model":  # config and weights files, neither of them usable
        (tmp_path / "broken").mkdir()
        (tmp_path / "broken" / "config.json").write_text("{}", encoding="utf-8")
        (tmp_path / "broken" / "model.safetensors").write_text("junk", encoding="utf-8")
        args["--model"] = str(tmp_path / "broken")
    elif problem == "no_prompt":
        del args["--prompt"]
    elif problem == "no_dataset":
        args["--memorization-data"] = "no-such-dataset"
    result = run_core("sample", *[x for pair in args.items() for x in pair])
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_bench_sample_json(workspace):
    result = run_core("bench", "sample", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert {"batched_seconds", "sequential_seconds", "speedup", "device", "threads"} <= set(figures)
    assert figures["batched_seconds"] > 0 and figures["sequential_seconds"] > 0
    assert figures["speedup"] == pytest.approx(figures["sequential_seconds"] / figures["batched_seconds"], abs=1e-3)
    assert figures["settings"] == ["greedy", "top-k 50", "top-p 0.9", "temperature 1.2"]
    assert figures["samples_per_setting"] == 4 and figures["max_new_tokens"] == 64
    assert figures["batched_tokens"] <= 4 * 4 * 64 and figures["sequential_tokens"] <= 4 * 4 * 64
    assert figures["device"] == "cpu" or figures["device"].startswith("NVIDIA")


def test_sample_output_imports_into_the_ratings_as_it_is(workspace, tmp_path):
    """`sample --out s.jsonl` then `ratings import s.jsonl`: one record type, so every sample arrives whole."""
    _, lines = sample(tmp_path, "--model", "starter", "--prompt", PROMPT, "--prompt", "春风", out="s.jsonl")
    db = f"sqlite:///{tmp_path / 'lab.sqlite'}"
    done = run_core(workspace, "ratings", "import", str(tmp_path / "s.jsonl"), QUILL_DB_URL=db)
    assert done.returncode == 0, done.stderr
    assert f"imported {len(lines)} samples and 0 ratings" in done.stdout

    from core.ratings.store import open_store

    with open_store(db) as store:
        stored = store.samples()
    assert len(stored) == len(lines) == 12
    for line, row in zip(lines, stored):
        kept = ("model", "checkpoint", "prompt", "text", "config_name", "settings", "seed", "sample_index", "stats")
        assert {k: row[k] for k in kept} == {k: line[k] for k in kept}
        assert row["source"] == "import"
