"""Where a new user tripped (issue 21), through the real pages (AppTest) in English and 简体中文."""

from __future__ import annotations

import os
import time

from streamlit.testing.v1 import AppTest

from dashboard.i18n import texts
from tests.test_pages import APP, open_page


def _shown(at) -> list[str]:
    return [str(e.value) for kind in ("markdown", "caption", "info", "success", "error", "warning")
            for e in getattr(at, kind)]


def test_home_latest_dataset_is_the_last_saved_not_the_last_touched_folder(workspace):
    from core.data import dataset

    now = time.time()
    for name, saved in [("old-poems", now - 200), ("new-poems", now - 100)]:
        dataset.save(workspace.datasets_dir / name, ["床前明月光"], recipe={"steps": []}, report={"docs_in": 1})
        os.utime(workspace.datasets_dir / name / "data.jsonl", (saved, saved))
    (workspace.datasets_dir / "old-poems" / "tokens-cache").write_text("x")  # a later run's cache: the folder moves on
    os.utime(workspace.datasets_dir / "old-poems", (now + 100, now + 100))
    at = open_page("home")
    assert any(texts("en")["home.latest"].format(name="new-poems") in shown for shown in _shown(at)), _shown(at)


def test_results_group_by_model_and_setting_and_say_when_alpha_has_too_few_ratings(workspace):
    from core.ratings.store import open_store

    with open_store() as store:
        ids = store.add_samples([{"model": model, "source": "playground", "prompt": "月", "text": f"光{i}",
                                  "config_name": "greedy"} for i, model in enumerate(["starter", "gpt2"])])
        store.rate(ids[0], "ann", {"fluency": 4, "coherence": 3, "style": 2, "repetition": 5})
        store.rate(ids[1], "ann", {"fluency": 2, "coherence": 3, "style": 4, "repetition": 5})
    zh = texts("zh")
    at = open_page("ratings", "zh")
    assert not at.exception, [e.value for e in at.exception]
    [by_setting] = [d.value for d in at.dataframe if zh["ratings.by_setting"] in d.value.columns]
    greedy = zh["setting.greedy"]
    assert set(by_setting[zh["ratings.by_setting"]]) == {f"starter · {greedy}", f"gpt2 · {greedy}"}  # not one pooled
    [agreement] = [d.value for d in at.dataframe if "α" in d.value.columns]
    assert "None" not in agreement.to_string() and set(agreement["α"]) == {"–"}  # one rater: no α
    assert set(agreement[zh["results.reading"]]) == {zh["results.alpha.none"]}


def test_a_bad_dataset_name_is_said_in_chinese(workspace):
    zh = texts("zh")
    at = open_page("data", "zh")
    at.text_input(key="save.name").input("   ").run()
    at.button(key="save.button").click().run()
    errors = [e.value for e in at.error]
    assert errors and errors[0].startswith("「」不能用作数据集名称"), errors
    assert "not a usable" not in " ".join(errors)
    assert zh["save.bad_name"].startswith("「{name}」")


def test_small_labels_read_right():
    from dashboard import figures

    assert "1 files" not in texts("en")["data.loaded"].format(files=1, docs=3, chars=30, skipped=0)
    chart = figures.learning_rate_chart([{"step": 1, "learning_rate": 2e-4}], title="lr", step_label="step")
    assert chart.layout.yaxis.tickformat == "~e"  # 2e-4, never "200μ"
    first = figures.loss_chart({"run": [{"step": 5, "loss": 7.1}]}, title="loss", train_label="train",
                               smooth_label="smoothed", eval_label="eval", step_label="step")
    assert any(trace.mode and "markers" in trace.mode and len(trace.x) == 1 for trace in first.data)  # a visible point


def test_playground_cards_wrap_a_draft_is_one_prompt_and_the_chosen_token_is_marked(workspace, quick_models):
    from dashboard.playground.playground_view import WRAP

    at = open_page("playground")
    at.slider(key="pg.columns").set_value(3)
    for i in range(3):
        at.number_input(key=f"pg.col.{i}.max_new_tokens").set_value(6)
    at.text_area(key="pg.prompts").input("，，，，，，，，，，，，，，，，，，，，\nhousehousehousehousehousehouse")
    at.toggle(key="pg.one_per_line").set_value(False)  # the two lines are one draft
    at.run()
    at.button(key="pg.generate").click().run()
    assert not at.exception, [e.value for e in at.exception]
    results = at.session_state["pg.results"]
    assert {r.record.prompt for r in results} == {"，，，，，，，，，，，，，，，，，，，，\nhousehousehousehousehousehouse"}
    cards = [h.proto.body for h in at.get("html") if "househouse" in h.proto.body]
    assert cards and all("overflow-wrap:anywhere" in card for card in cards) and "overflow-wrap:anywhere" in WRAP
    # top-p 0.9 on a near-uniform tiny model draws from far beyond the ten best tokens: the view still marks it
    sampled = next(n for n, r in enumerate(results) if r.record.config_name == "top-p 0.9")
    at.selectbox(key="pg.token.sample").set_value(sampled).run()
    [table] = [d.value for d in at.dataframe if texts("en")["pg.chosen"] in d.value.columns]
    marks = [mark for mark in table[texts("en")["pg.chosen"]] if mark]
    assert marks == [texts("en")["pg.chosen_outside"].format(k=10)], table  # seeded: this draw is outside the top 10


def test_a_samples_provenance_is_said_in_chinese(workspace):
    from core.ratings.store import open_store

    with open_store() as store:
        store.add_samples([{"model": "starter", "source": "playground", "prompt": "月", "text": "光",
                            "config_name": "greedy"}])
    at = open_page("ratings", "zh")
    at.text_input(key="ratings.rater").input("李").run()
    captions = [c.value for c in at.caption]
    assert any("种子 – · 来自 试验场" in c for c in captions), captions  # not "来自 playground", not "种子 None"


def test_stored_setting_names_are_shown_in_chinese_and_stored_as_made(workspace):
    from core.ratings.store import open_store

    names = ["greedy", "top-p 0.9", "gallery step 50", "my own"]
    with open_store() as store:
        ids = store.add_samples([{"model": "starter", "source": "playground", "prompt": "月", "text": f"光{i}",
                                  "config_name": name} for i, name in enumerate(names)])
        for sample_id in ids:
            store.rate(sample_id, "ann", {"fluency": 4, "coherence": 3, "style": 2, "repetition": 5})
    zh = texts("zh")
    at = open_page("ratings", "zh")
    assert not at.exception, [e.value for e in at.exception]
    [by_setting] = [d.value for d in at.dataframe if zh["ratings.by_setting"] in d.value.columns]
    shown = {group.split(" · ")[1] for group in by_setting[zh["ratings.by_setting"]]}
    assert shown == {zh["setting.greedy"], zh["setting.top_p"].format(value="0.9"),
                     zh["setting.gallery_step"].format(value="50"), "my own"}  # a typed name stays as typed
    assert "贪心" in zh["setting.greedy"] and "第 {value} 步" in zh["setting.gallery_step"]
    with open_store() as store:  # what is stored is what was made
        assert sorted(s["config_name"] for s in store.samples()) == sorted(names)


def test_a_mostly_traditional_sample_suggests_traditional_to_simplified(workspace):
    import json

    from core.data.cleaning.steps import traditional_share

    poems = [{"title": "登鸛雀樓", "paragraphs": ["白日依山盡，黃河入海流。", "欲窮千里目，更上一層樓。"]},
             {"title": "靜夜思", "paragraphs": ["床前明月光，疑是地上霜。", "舉頭望明月，低頭思故鄉。"]}]
    folder = workspace.root / "inbox" / "tang"
    folder.mkdir(parents=True)
    (folder / "poet.tang.0.json").write_text(json.dumps(poems, ensure_ascii=False), encoding="utf-8")
    assert traditional_share(["白日依山尽，黄河入海流。"]) == 0 < traditional_share(["白日依山盡，黃河入海流。"])
    at = open_page("data", "zh")
    at.radio(key="data.source").set_value("folder").run()
    at.text_input(key="data.folder").input("tang").run()
    assert not at.exception, [e.value for e in at.exception]
    suggestion = texts("zh")["recipe.suggest_t2s"].split("{share}")[1][:12]
    assert any(suggestion in i.value for i in at.info), [i.value for i in at.info]


def test_lines_with_lost_character_boxes_are_counted_and_can_be_dropped(workspace):
    import json

    from core.data.cleaning.steps import filter_characters

    poem = "白日依山尽，黄河入海流。\n欲穷□□目，更上一层楼。"
    assert filter_characters(poem) == poem  # □ holds the meter's place: kept by default
    assert filter_characters(poem, drop_lost_lines=True) == "白日依山尽，黄河入海流。"
    folder = workspace.root / "inbox" / "lost"
    folder.mkdir(parents=True)
    (folder / "poems.json").write_text(json.dumps([{"paragraphs": poem.split("\n")}], ensure_ascii=False),
                                       encoding="utf-8")
    at = open_page("data")
    at.radio(key="data.source").set_value("folder").run()
    at.text_input(key="data.folder").input("lost").run()
    assert not at.exception, [e.value for e in at.exception]
    assert texts("en")["recipe.lost_lines"].format(n=1) in [c.value for c in at.caption]


def test_no_step_progress_bar_is_left_after_a_save(workspace):
    at = open_page("data")
    at.text_input(key="save.name").input("mine").run()
    at.button(key="save.button").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.success and (workspace.datasets_dir / "mine" / "data.jsonl").is_file()
    assert len(at.get("progress")) == 0  # the last step's bar ("Near duplicates") is gone with the save


def _failed_run(workspace, name: str = "poems-run") -> None:
    import json

    from core.train.config import TrainConfig

    run = workspace.runs_dir / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(TrainConfig(dataset="poems").to_json(), encoding="utf-8")
    now = time.time()
    (run / "status.json").write_text(json.dumps({"state": "failed", "step": 2, "max_steps": 4, "started": now - 60,
                                                 "ended": now, "error": "RuntimeError: boom"}), encoding="utf-8")
    (run / "train.log").write_text("RuntimeError: boom\n", encoding="utf-8")
    (run / "metrics.jsonl").write_text(json.dumps({"step": 1, "loss": 6.0, "learning_rate": 5e-4}) + "\n")


def _train_page_on_the_failed_run(workspace) -> AppTest:
    """The Train page in Chinese, opened on a failed run made by `_failed_run`."""
    _failed_run(workspace)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update(lang="zh", run="poems-run")
    at.run()
    return at.switch_page("../pages/train.py").run()


def test_the_training_log_is_introduced_in_chinese(workspace):
    at = _train_page_on_the_failed_run(workspace)
    assert not at.exception, [e.value for e in at.exception]
    captions = [c.value for c in at.caption]
    assert captions.count(texts("zh")["run.log_caption"]) == 2, captions  # above the error's log and in the log's box
    assert any("RuntimeError: boom" in c.value for c in at.code)  # the trainer's own line, as it wrote it


def test_the_run_panel_says_the_latest_loss_from_the_run_folder(workspace):
    """The panel's numbers come from the run's files, so a new tab shows the loss before the chart library loads."""
    at = _train_page_on_the_failed_run(workspace)
    [loss] = [m for m in at.metric if m.label == texts("zh")["run.last_loss"]]
    assert loss.value == "6.000"


def test_the_write_pages_settings_are_named_in_chinese(workspace):
    zh = texts("zh")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["lang"] = "zh"
    at.run()
    at.switch_page("../pages/write.py").run()
    at.text_input(key="write.writer").set_value("ann").run()
    at.text_input(key="write.new_name").set_value("poem").run()
    at.button(key="write.new").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [setting] = [s for s in at.selectbox if s.key and s.key.startswith("write.setting.")]
    assert setting.options[0] == zh["setting.top_p"].format(value="0.9")  # the fallback, first, in Chinese
    assert setting.value == "top-p 0.9"  # the choice itself (stored with a span) is the setting as made
