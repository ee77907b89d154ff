import pytest

from core.models.names import short_model_name


@pytest.mark.parametrize("location, short", [
    ("/home/ann/quill/runs/poems-1/checkpoint-200", "poems-1 · step 200"),
    ("poems-1/checkpoint-40", "poems-1 · step 40"),
    ("/home/ann/quill/runs/poems-1/final", "poems-1 · final"),
    ("checkpoint-200", "step 200"),
    ("gpt2", "gpt2"),
    ("uer/gpt2-chinese-cluecorpussmall", "uer/gpt2-chinese-cluecorpussmall"),
    ("/home/ann/quill/models/starter", "starter"),
    (None, "–"),
])
def test_short_model_name_is_a_run_and_step_never_a_path(location, short):
    assert short_model_name(location) == short


def test_short_model_name_takes_translated_words():
    assert short_model_name("/w/runs/r/checkpoint-5", step_word="步") == "r · 步 5"
