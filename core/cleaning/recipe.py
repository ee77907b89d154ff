"""The cleaning recipe: an ordered list of steps, each on or off with its parameters, saved and loaded as JSON.

A step's parameters and their defaults are the keyword arguments of its function, so there is one source of truth.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from core.cleaning.corpus_steps import CORPUS_STEP_FUNCTIONS
from core.cleaning.steps import STEP_FUNCTIONS
from core.errors import UserError

# The order a new recipe runs its steps in: text repairs first, then boilerplate lines while lines still exist,
# whitespace, filters, and the dedups last so they compare cleaned text.
STEP_ORDER = [
    "html_to_text",
    "fix_mojibake",
    "normalize_width",
    "convert_chinese",
    "remove_boilerplate_lines",
    "normalize_whitespace",
    "filter_characters",
    "quality_filter",
    "language_filter",
    "exact_dedup",
    "near_dedup",
]
OFF_BY_DEFAULT = {"convert_chinese", "filter_characters", "language_filter"}


def step_function(name: str):
    function = STEP_FUNCTIONS.get(name) or CORPUS_STEP_FUNCTIONS.get(name)
    if function is None:
        raise UserError(f"unknown cleaning step '{name}': known steps are {', '.join(STEP_ORDER)}")
    return function


def is_corpus_step(name: str) -> bool:
    """Corpus steps see all documents at once (boilerplate lines, dedup); the others one document at a time."""
    return name in CORPUS_STEP_FUNCTIONS


def default_params(name: str) -> dict:
    signature = inspect.signature(step_function(name))
    return {p.name: p.default for p in list(signature.parameters.values())[1:] if p.default is not inspect.Parameter.empty}


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
    def default(cls) -> "Recipe":
        return cls([StepConfig(name, enabled=name not in OFF_BY_DEFAULT) for name in STEP_ORDER])

    def enabled_steps(self) -> list[StepConfig]:
        return [step for step in self.steps if step.enabled]

    def step(self, name: str) -> StepConfig:
        return next(step for step in self.steps if step.name == name)

    def to_dict(self) -> dict:
        return {"version": 1, "steps": [asdict(step) for step in self.steps]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> "Recipe":
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise UserError('a recipe is a JSON object with a "steps" list: save one from the Data page to see the shape')
        steps = []
        for raw in data["steps"]:
            if not isinstance(raw, dict) or "name" not in raw:
                raise UserError(f'each recipe step needs a "name": got {raw!r}')
            name = raw["name"]
            defaults = default_params(name)  # raises for unknown steps
            params = raw.get("params") or {}
            unknown = set(params) - set(defaults)
            if unknown:
                raise UserError(
                    f"step '{name}' has no parameter {', '.join(sorted(unknown))}: "
                    f"its parameters are {', '.join(defaults) or 'none'}"
                )
            steps.append(StepConfig(name, bool(raw.get("enabled", True)), {k: _coerce(name, k, v, defaults[k]) for k, v in params.items()}))
        return cls(steps)

    @classmethod
    def from_json(cls, text: str) -> "Recipe":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise UserError(f"the recipe is not valid JSON: {exc}") from exc

    @classmethod
    def load(cls, path: str | Path) -> "Recipe":
        try:
            return cls.from_json(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise UserError(f"cannot read recipe {path}: {exc.strerror}") from exc


def _coerce(step: str, name: str, value, default):
    """JSON gives lists for tuples and ints for floats; anything else of the wrong type is an error."""
    if isinstance(default, bool) or default is None:
        ok = isinstance(value, bool) if isinstance(default, bool) else True
    elif isinstance(default, (int, float)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = type(default)(value) if ok and not (isinstance(default, int) and isinstance(value, float) and value % 1) else value
    elif isinstance(default, (tuple, list)):
        ok = isinstance(value, (list, tuple))
        value = tuple(value) if ok and isinstance(default, tuple) else value
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise UserError(f"step '{step}': parameter '{name}' should be like {default!r}, got {value!r}")
    return value
