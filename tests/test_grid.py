"""The Playground's grid (models × prompts × settings) on the real starter model: records, provenance, problems."""

from __future__ import annotations

import json
import shutil

from core.playground.grid import generate_grid, record_grid
from core.playground.sampling import DecodingConfig
from core.ratings.store import open_store

CONFIGS = [DecodingConfig(name="greedy", max_new_tokens=8),
           DecodingConfig(name="hot", do_sample=True, temperature=1.3, max_new_tokens=8, num_samples=2, seed=5)]


def test_grid_records_every_cell_with_its_provenance_and_streams(workspace, tmp_path):
    run = workspace.runs_dir / "poems"
    shutil.copytree(workspace.root / "models" / "starter", run / "checkpoint-10")
    (run / "checkpoint-10" / "trainer_state.json").write_text('{"global_step": 10}')  # a complete checkpoint
    for name in ("optimizer.pt", "scheduler.pt"):
        (run / "checkpoint-10" / name).write_bytes(b"x")
    (run / "config.json").write_text(json.dumps({"dataset": "verse", "model": "starter"}), encoding="utf-8")
    (workspace.root / "datasets" / "verse").mkdir(parents=True)
    (workspace.root / "datasets" / "verse" / "data.jsonl").write_text('{"text": "The lighthouse keeper"}\n')
    cells, streamed = [], {}

    def on_cell(model, prompt):
        cells.append((model, prompt))
        return lambda row, piece: streamed.__setitem__((model, prompt, row), streamed.get((model, prompt, row), "") + piece)

    result = generate_grid(["starter", "no-such-model-here", "poems/checkpoint-10"], ["The lighthouse", "春风"],
                           CONFIGS, workspace=workspace, on_cell=on_cell, keep_top=3)
    assert [(p.model, p.loading) for p in result.problems] == [("no-such-model-here", True)], result.problems
    assert cells == [(m, p) for m in ("starter", "poems/checkpoint-10") for p in ("The lighthouse", "春风")]
    records = result.records
    assert len(records) == 2 * 2 * 3
    assert [(r.model, r.prompt, r.config_name, r.sample_index) for r in records] == [
        (m, p, c.name, i) for m in ("starter", "poems/checkpoint-10") for p in ("The lighthouse", "春风")
        for c in CONFIGS for i in range(c.num_samples)]
    assert len({r.batch for r in records}) == 1 and all(r.source == "playground" for r in records)
    starter, checkpoint = records[0], records[-1]
    assert starter.run is None and checkpoint.run == "poems" and checkpoint.checkpoint.endswith("checkpoint-10")
    assert checkpoint.dataset == "verse" and checkpoint.stats["memorization_data"].endswith("verse")
    assert checkpoint.settings == CONFIGS[1].to_dict() and checkpoint.seed == 5
    assert starter.stats["length_tokens"] >= 1 and starter.stats["memorized"] is None
    for item in result.items:  # the text streamed is the text recorded; the token view has its steps
        row = sum(c.num_samples for c in CONFIGS[:[c.name for c in CONFIGS].index(item.record.config_name)])
        assert streamed[item.record.model, item.record.prompt, row + item.record.sample_index] == item.record.text
        assert len(item.sample.steps) == len(item.sample.token_ids)

    with open_store(f"sqlite:///{tmp_path / 'lab.sqlite'}") as store:
        assert record_grid(store, records[:3]).new == 3 and record_grid(store, records[:3]).new == 0  # twice: once
        assert [s["text"] for s in store.samples()] == [r.text for r in records[:3]]
