"""The cleaning recipe: an ordered list of steps, each on or off with its parameters, saved and loaded as JSON.

A step's parameters and their defaults are the keyword arguments of its function, so there is one source of truth.
"""

from __future__ import annotations

import inspect
import json
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core import dataclass_json
from core.data.cleaning.corpus_steps import CORPUS_STEP_FUNCTIONS
from core.data.cleaning.presets import PRESETS
from core.data.cleaning.steps import STEP_FUNCTIONS
from core.errors import UserError

# The order a new recipe runs its steps in: text repairs first, then exact dedup, so that five copies of a document
# leave one and do not vote five times for their own lines as boilerplate; then boilerplate lines while lines still
# exist, whitespace, filters, and near dedup last so it compares cleaned text (a shared footer would otherwise make
# two different articles look alike).
STEP_ORDER = [
    "html_to_text",
    "fix_mojibake",
    "normalize_width",
    "convert_chinese",
    "exact_dedup",
    "remove_boilerplate_lines",
    "normalize_whitespace",
    "filter_characters",
    "quality_filter",
    "language_filter",
    "near_dedup",
    "exclude_documents",
]
OFF_BY_DEFAULT = {"convert_chinese", "filter_characters", "language_filter", "exclude_documents"}
# Steps added after version 2 was written: a full recipe saved before them gets them, off, at their place (the end).
ADDED_LATER = ("exclude_documents",)
# Steps that work on lines across documents: exact dedup must run before them.
LINE_STEPS = ("remove_boilerplate_lines",)
VERSION = 2  # version 1 ran exact dedup after the line steps and had quality_filter's min_chars


def step_function(name: str):
    function = STEP_FUNCTIONS.get(name) or CORPUS_STEP_FUNCTIONS.get(name)
    if function is None:
        raise UserError.coded("step_unknown", name=name, steps=", ".join(STEP_ORDER))
    return function


def is_corpus_step(name: str) -> bool:
    """Corpus steps see all documents at once (boilerplate lines, dedup); the others one document at a time."""
    return name in CORPUS_STEP_FUNCTIONS


def default_params(name: str) -> dict:
    """A step's parameters and their defaults; keyword-only ones (a process pool) are the run's, not the recipe's."""
    signature = inspect.signature(step_function(name))
    return {p.name: p.default for p in list(signature.parameters.values())[1:]
            if p.default is not inspect.Parameter.empty and p.kind is not inspect.Parameter.KEYWORD_ONLY}


@dataclass
class StepConfig:
    name: str  # one of STEP_ORDER
    enabled: bool = True  # off steps stay in the recipe, so turning one back on keeps its parameters
    params: dict = field(default_factory=dict)  # overrides of the function's defaults

    def arguments(self) -> dict:
        """The full keyword arguments the step runs with: its defaults, overridden by this recipe's values."""
        return {**default_params(self.name), **self.params}


@dataclass
class Recipe:
    steps: list[StepConfig]

    @classmethod
    def default(cls) -> Recipe:
        return cls([StepConfig(name, enabled=name not in OFF_BY_DEFAULT) for name in STEP_ORDER])

    @classmethod
    def preset(cls, name: str) -> Recipe:
        """The default recipe with a preset's steps and thresholds (see PRESETS)."""
        if name not in PRESETS:
            raise UserError.coded("recipe_preset_unknown", name=name, presets=", ".join(PRESETS))
        recipe = cls.default()
        for step, settings in PRESETS[name].items():
            config = recipe.step(step)
            config.enabled = settings.get("enabled", True)
            config.params = {k: v for k, v in settings.items() if k != "enabled"}
        return recipe

    def check(self) -> None:
        """Exact dedup, when on, runs before the line steps; raises UserError otherwise."""
        names = [step.name for step in self.enabled_steps()]
        if "exact_dedup" not in names:
            return
        dedup = names.index("exact_dedup")
        late = [name for name in names[:dedup] if name in LINE_STEPS]
        if late:
            raise UserError.coded("dedup_order", steps=", ".join(late))

    def enabled_steps(self) -> list[StepConfig]:
        return [step for step in self.steps if step.enabled]

    def step(self, name: str) -> StepConfig:
        """The recipe's step of that name; a step the recipe does not list yet (one saved before the step existed)
        is added, off, at its place in STEP_ORDER's end."""
        found = next((step for step in self.steps if step.name == name), None)
        if found is None:
            found = StepConfig(name, enabled=False)
            step_function(name)  # raises for an unknown step
            self.steps.append(found)
        return found

    def to_dict(self) -> dict:
        return {"version": VERSION, "steps": [asdict(step) for step in self.steps]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> Recipe:
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise UserError.coded("recipe_shape")
        if data.get("version") == 1:
            data = _upgrade_version_1(data)
        steps = [_step_from_dict(raw) for raw in data["steps"]]
        names = {step.name for step in steps}
        if set(STEP_ORDER) - set(ADDED_LATER) <= names:
            steps += [StepConfig(name, enabled=False) for name in ADDED_LATER if name not in names]
        recipe = cls(steps)
        recipe.check()
        return recipe

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise UserError.coded("recipe_not_json", reason=exc) from exc

    @classmethod
    def load(cls, path: str | Path) -> Recipe:
        try:
            return cls.from_json(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise UserError.coded("recipe_unreadable", path=path, reason=exc.strerror) from exc


def _upgrade_version_1(data: dict) -> dict:
    """A version-1 recipe (saved before exact dedup moved up) in today's terms: exact dedup goes right before the
    first line step, and quality_filter's min_chars, a character floor that dropped short poems, is left out (the
    word floor takes its default). Malformed steps are left for from_dict to report."""
    steps = [dict(raw) if isinstance(raw, dict) else raw for raw in data["steps"]]
    names = [raw.get("name") if isinstance(raw, dict) else None for raw in steps]
    for raw, name in zip(steps, names):
        if name == "quality_filter" and isinstance(raw.get("params"), dict):
            raw["params"] = {k: v for k, v in raw["params"].items() if k != "min_chars"}
    line_steps = [i for i, name in enumerate(names) if name in LINE_STEPS]
    if "exact_dedup" in names and line_steps and names.index("exact_dedup") > line_steps[0]:
        steps.insert(line_steps[0], steps.pop(names.index("exact_dedup")))
    return {**data, "version": VERSION, "steps": steps}


def _step_from_dict(raw) -> StepConfig:
    """A step of a recipe read from JSON: its fields and its parameters checked against their types (the step
    function's annotations) by the lab's one JSON reader, core.dataclass_json."""
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise UserError.coded("step_needs_name", got=repr(raw))
    name = raw["name"]
    defaults = default_params(name)  # raises for unknown steps
    step = dataclass_json.from_dict(StepConfig, raw, where=f"recipe step '{name}'")
    unknown = set(step.params) - set(defaults)
    if unknown:
        raise UserError.coded("step_parameter_unknown", name=name, unknown=", ".join(sorted(unknown)),
                              known=", ".join(defaults) or "-")
    types = typing.get_type_hints(inspect.unwrap(step_function(name)))  # a step may forward to its declaration
    step.params = {key: dataclass_json.convert(types[key], value, where=f"step '{name}': parameter {key}")
                   for key, value in step.params.items()}
    return step
