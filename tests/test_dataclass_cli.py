"""TrainConfig is declared once: every field is a `train` flag, a labelled widget on the Train form, and the
JSON a run reads; the flags' types, choices and help come from the declaration."""

from __future__ import annotations

import dataclasses

import pytest

from core.cli import build_parser
from core.dataclass_cli import cli_fields, flag, namespace_to_dataclass
from core.errors import UserError
from core.train.config import TrainConfig
from dashboard.i18n import texts
from tests.test_pages import _save_sample_dataset, open_page


def _train_parser():
    commands = next(a for a in build_parser()._actions if a.dest == "command")
    return commands.choices["train"]


def test_every_train_config_field_has_a_flag_and_a_label_key():
    flags = {option for action in _train_parser()._actions for option in action.option_strings}
    names = [f.name for f in cli_fields(TrainConfig)]
    # kept off the command line: `resume` sets resume_from, a sweep sets sweep and trial
    assert set(names) == {f.name for f in dataclasses.fields(TrainConfig)} - {"resume_from", "sweep", "trial"}
    assert [n for n in names if flag(n) not in flags] == []
    for lang in ("en", "zh"):
        assert [n for n in names if f"train.{n}" not in texts(lang)] == [], lang
    assert {"--data", "--max-steps", "--learning-rate", "--num-processes"} <= flags  # the names scripts use


def test_the_train_form_has_a_widget_for_every_field(workspace):
    _save_sample_dataset(workspace)
    at = open_page("train")

    def labels():
        return {w.label for kind in (at.number_input, at.selectbox, at.checkbox, at.text_area, at.text_input)
                for w in kind}

    shown = labels()
    at.selectbox(key="train.method").set_value("dpo").run()  # the preference options replace the dataset box
    shown |= labels()
    assert [f.name for f in cli_fields(TrainConfig) if texts("en")[f"train.{f.name}"] not in shown] == []


def test_flags_override_the_config_file_and_keep_their_types(tmp_path):
    base = TrainConfig(dataset="poems", batch_size=4, gradient_checkpointing=True, warmup_ratio=0.2)
    args = build_parser().parse_args(["train", "--data", "tales", "--max-steps", "7", "--no-gradient-checkpointing",
                                      "--gallery-prompts", "A", "B", "--scheduler", "linear"])
    config = namespace_to_dataclass(args, TrainConfig, base=base)
    assert config == dataclasses.replace(base, dataset="tales", max_steps=7, gradient_checkpointing=False,
                                         gallery_prompts=["A", "B"], scheduler="linear")


@pytest.mark.parametrize("argv, message", [
    (["--batch-size", "8.5"], "invalid int value"),
    (["--scheduler", "steep"], "invalid choice"),
    (["--resume-from", "x"], "unrecognized arguments"),  # `python -m core resume` does that
])
def test_flags_refuse_what_the_declaration_refuses(argv, message):
    with pytest.raises(UserError, match=message):
        build_parser().parse_args(["train", *argv])
