"""The checkpoint gallery samples through the Playground's decoding path (whole characters, the same text), and is
written as the ratings side's sample records, which the ratings store takes as they are."""

from __future__ import annotations

import json

from core.playground import sampling
from core.playground.presets import gallery_decoding
from core.ratings.schema import SampleRecord
from core.ratings.store import open_store
from core.train import gallery
from core.train.callbacks import GalleryCallback
from core.train.config import TrainConfig
from core.train.gallery_import import import_gallery
from core.train.run_dir import RunDir

PROMPTS = ["明月", "青石镇的早晨", "床前明月光，", "The lighthouse keeper"]


def test_a_gallery_sample_of_the_untrained_starter_holds_no_broken_character(starter_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(starter_dir)
    model = AutoModelForCausalLM.from_pretrained(starter_dir)
    config = TrainConfig(dataset="poems", model="starter", gallery_prompts=PROMPTS, gallery_max_new_tokens=16)
    run = RunDir(tmp_path / "runs" / "poems-run")
    run.path.mkdir(parents=True)
    GalleryCallback(run.path, tokenizer, config).sample(model, 0)
    lines = [json.loads(line) for line in run.samples_file.read_text(encoding="utf-8").splitlines()]
    assert [line["prompt"] for line in lines] == PROMPTS
    texts = [line["text"] for line in lines]
    assert all(texts) and not any("\ufffd" in text for text in texts), texts
    # One decoding path: the gallery's text is what the Playground writes under the gallery's recorded setting.
    setting = gallery_decoding(config.gallery_max_new_tokens, config.gallery_seed)
    assert [sampling.generate(model, tokenizer, prompt, [setting])[0].text for prompt in PROMPTS] == texts


def test_the_gallery_is_written_as_sample_records_that_the_ratings_store_takes_with_their_provenance(tiny_model, tmp_path):
    tokenizer, model = tiny_model
    config = TrainConfig(dataset="poems", model="starter", gallery_prompts=["明月", "  "], gallery_max_new_tokens=4)
    run = RunDir(tmp_path / "runs" / "poems-run")
    run.path.mkdir(parents=True)
    run.write_config(config)  # not read for these lines: each carries its own provenance
    callback = GalleryCallback(run.path, tokenizer, config)
    callback.sample(model, 0)
    callback.sample(model, 50)
    # Each line is a sample record as it is (the file `ratings import` reads), the blank prompt skipped.
    lines = [json.loads(line) for line in run.samples_file.read_text(encoding="utf-8").splitlines()]
    assert [SampleRecord.from_dict(line).to_dict() for line in lines] == lines and len(lines) == 2
    samples = gallery.read(run.path)
    assert samples.problem is None and [gallery.step(s) for s in samples.records] == [0, 50]

    with open_store(f"sqlite:///{tmp_path / 'lab.sqlite'}") as store:
        assert import_gallery(store, run.path) == 2
        assert import_gallery(store, run.path) == 2  # again: the same samples, not stored twice
        base, trained = store.samples()
    assert (base["model"], base["checkpoint"], base["source"], base["run"]) == ("starter", "starter", "gallery", "poems-run")
    assert (trained["model"], trained["checkpoint"], trained["config_name"]) == (
        "poems-run/checkpoint-50", "checkpoint-50", "gallery step 50")
    assert trained["dataset"] == "poems" and trained["seed"] == config.gallery_seed and trained["prompt"] == "明月"
    assert trained["settings"] == gallery_decoding(config.gallery_max_new_tokens, config.gallery_seed).to_dict()


def test_a_line_that_is_no_gallery_sample_is_left_out_with_its_reason(tmp_path):
    run = RunDir(tmp_path / "runs" / "r")
    run.path.mkdir(parents=True)
    run.write_config(TrainConfig(dataset="poems", model="starter"))
    good = gallery.record(run, TrainConfig(dataset="poems", model="starter"), 10, "月", "光").to_dict()
    run.append_sample(good)
    run.append_sample({**good, "source": "playground"})
    run.append_sample({**good, "colour": "red"})
    samples = gallery.read(run.path)
    assert [s.text for s in samples.records] == ["光"]
    assert samples.problem == "samples.jsonl line 2: not a gallery sample"
