"""The checkpoint gallery samples through the Playground's decoding path: whole characters, the same text."""

from __future__ import annotations

import json

from core.playground import sampling
from core.playground.presets import gallery_decoding
from core.train.callbacks import GalleryCallback
from core.train.config import TrainConfig

PROMPTS = ["明月", "青石镇的早晨", "床前明月光，", "The lighthouse keeper"]


def test_a_gallery_sample_of_the_untrained_starter_holds_no_broken_character(starter_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(starter_dir)
    model = AutoModelForCausalLM.from_pretrained(starter_dir)
    config = TrainConfig(dataset="poems", model="starter", gallery_prompts=PROMPTS, gallery_max_new_tokens=16)
    path = tmp_path / "samples.jsonl"
    GalleryCallback(path, tokenizer, config).sample(model, 0)
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["prompt"] for line in lines] == PROMPTS
    texts = [line["text"] for line in lines]
    assert all(texts) and not any("\ufffd" in text for text in texts), texts
    # One decoding path: the gallery's text is what the Playground writes under the gallery's recorded setting.
    setting = gallery_decoding(config.gallery_max_new_tokens, config.gallery_seed)
    assert [sampling.generate(model, tokenizer, prompt, [setting])[0].text for prompt in PROMPTS] == texts
