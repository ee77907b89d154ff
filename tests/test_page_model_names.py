"""Model names on the pages stay inside what the lab may read (issue 20, item 2): a hub id, `starter`, a run of
this workspace, or a folder under the workspace or QUILL_DATA_ROOTS; anything else gets one answer, whatever exists
there. The command line still reads any path. A LoRA adapter's base obeys the same rule, and a cycle of adapters
is an error, not a RecursionError."""

from __future__ import annotations

import json
import shutil

import pytest

from core import models
from core.errors import UserError
from tests.test_pages import _save_sample_dataset, open_page

REFUSED = "is not a model the lab can open here"


@pytest.fixture
def outside(tmp_path, starter_dir):
    """A real model in another workspace beside this one."""
    other = tmp_path / "other-workspace" / "runs" / "secret" / "final"
    shutil.copytree(starter_dir, other)
    return other


def test_a_page_name_outside_the_workspace_is_refused_whatever_exists(workspace, outside, tmp_path):
    escape = f"{workspace.root}/../other-workspace/runs/secret/final"
    for name in [escape, str(outside), "/root", "/no/such/dir", "~", "~/models", str(tmp_path), "./x/../../etc",
                 "..\\..\\other"]:
        with pytest.raises(UserError, match=REFUSED):
            models.resolve(name, workspace, confined=True)
        with pytest.raises(UserError, match=REFUSED):
            models.check_page_model(name, workspace)
    assert models.resolve(str(outside), workspace).kind == "local"  # the command line reads any path


def test_a_page_name_inside_the_workspace_or_a_data_root_loads(workspace, outside, tmp_path, monkeypatch):
    mine = workspace.root / "models" / "mine"
    shutil.copytree(workspace.starter_dir, mine)
    assert models.resolve(str(mine), workspace, confined=True).kind == "local"
    assert models.resolve("starter", workspace, confined=True).kind == "starter"
    for hub in ["gpt2", "uer/gpt2-chinese-cluecorpussmall"]:
        assert models.resolve(hub, workspace, confined=True).kind == "hub"
    monkeypatch.setenv("QUILL_DATA_ROOTS", str(tmp_path / "other-workspace"))
    assert models.resolve(str(outside), workspace, confined=True).kind == "local"


def _adapter(folder, base: str) -> None:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base}), encoding="utf-8")
    (folder / "adapter_model.safetensors").write_bytes(b"not read before the base is")


def test_an_adapters_base_obeys_the_rule_and_a_cycle_is_an_error(workspace, outside):
    lora4, lora5, selfish, leaky = (workspace.root / "models" / n for n in ("lora4", "lora5", "self", "leaky"))
    _adapter(lora4, str(lora5))
    _adapter(lora5, str(lora4))
    _adapter(selfish, str(selfish))
    _adapter(leaky, str(outside))
    for adapter in (lora4, selfish):
        with pytest.raises(UserError, match="leads back to itself"):
            models.load(str(adapter), workspace)
        with pytest.raises(UserError, match="leads back to itself"):
            models.load_config(str(adapter), workspace)
    with pytest.raises(UserError, match=REFUSED):
        models.load(str(leaky), workspace, confined=True)


def test_the_train_page_refuses_a_model_outside(workspace):
    from core.train.config import TrainConfig

    _save_sample_dataset(workspace)
    (workspace.root / "drafts").mkdir()  # as if typed into the selectbox (accept_new_options) earlier
    (workspace.root / "drafts" / "train.json").write_text(TrainConfig(dataset="sample", model="/root").to_json())
    at = open_page("train")
    assert not at.exception, [e.value for e in at.exception]
    assert any("/root is not a model the lab can open here" in e.value for e in at.error)
    assert at.button(key="train.start").disabled


def test_the_playground_refuses_a_linked_model_outside(workspace, outside):
    at = open_page("playground")
    at.query_params["model"] = str(outside)
    at.run()
    at.multiselect(key="pg.models").set_value([str(outside)])
    at.number_input(key="pg.col.0.max_new_tokens").set_value(4)
    at.run()
    at.button(key="pg.generate").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(REFUSED in e.value for e in at.error) or any(REFUSED in c.value for c in at.code)
