"""A sample record: one generated text with everything that produced it, in the one form every stage uses.

`python -m core sample --out` writes these (one JSON object a line), the Playground's "Send to ratings" and a run's
gallery store them, the store's `add_samples` takes them, and `ratings import` reads them back: so a file that
`sample` wrote imports as it is. It lives here, in the ratings package, because its fields are the store's sample
columns and the ratings side must not depend on the producers (playground, train, cli); they depend on it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from sqlalchemy import JSON, CheckConstraint, Column, DateTime, Integer, MetaData, String, Table, Text

from core import dataclass_json
from core.errors import UserError

SOURCES = ("playground", "gallery", "import", "cli")  # who made the sample (a file import stores "import")
REQUIRED = ("model", "prompt", "text")


@dataclass
class SampleRecord:
    model: str  # the model name as the user gave it ("starter", "gpt2", "run-1/checkpoint-200")
    prompt: str
    text: str  # the continuation only, kept exactly (a leading space is part of it)
    source: str = "playground"  # one of SOURCES
    checkpoint: str | None = None  # the resolved location or checkpoint name
    run: str | None = None  # the run the model came from, if any
    dataset: str | None = None  # the dataset that run was fine-tuned on
    config_name: str | None = None  # the decoding setting's name (a Playground column)
    settings: dict | None = None  # the decoding setting (DecodingConfig.to_dict())
    seed: int | None = None
    sample_index: int | None = None  # which of the setting's samples
    stats: dict | None = None  # sample_stats.stats(), plus "memorization_data" where checked
    batch: str | None = None  # shared by the samples generated together; the store gives one if missing
    created: str | None = None  # ISO date and time; the store sets now if missing

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data, *, where: str = "a sample") -> SampleRecord:
        """A JSON object as a record: missing text, unknown keys and wrong types are one UserError naming them."""
        if isinstance(data, dict):
            missing = [key for key in REQUIRED if data.get(key) is None]
            if missing:
                raise UserError.coded("sample_lacks", where=where, missing=", ".join(missing), required=", ".join(REQUIRED))
            unknown = sorted(str(key) for key in data if key not in FIELDS)
            if unknown:
                raise UserError.coded("sample_fields_unknown", where=where, unknown=", ".join(unknown), known=", ".join(FIELDS))
        return dataclass_json.from_dict(cls, data, where=where).validate(where)

    def validate(self, where: str = "a sample") -> SampleRecord:
        if self.source not in SOURCES:
            raise UserError.coded("sample_source_unknown", where=where, source=repr(self.source), sources=", ".join(SOURCES))
        return self


FIELDS = tuple(f.name for f in fields(SampleRecord))


# The lab database's tables live on this MetaData (the store's ORM models share it). Defined here as a plain table:
# the Write page's choices are read and written by `core.ratings.choices` only.
METADATA = MetaData()
CHOICE_ACTIONS = ("accept", "dismiss")

WRITE_CHOICES = Table(
    "write_choices", METADATA,
    Column("id", Integer, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("writer", String(200), nullable=False, index=True),  # who chose: the rater is the writer
    Column("draft", String(200), nullable=False),
    Column("context", Text, nullable=False),  # the model's input: memory and the draft's kept end (the "prompt")
    Column("accepted", Text),  # the alternative taken; NULL when all were dismissed
    Column("shown", JSON, nullable=False),  # every alternative shown, in order (the accepted one among them)
    Column("model", String(500), nullable=False, index=True),
    Column("checkpoint", String(1000)),
    Column("setting", JSON, nullable=False),  # the decoding setting (DecodingConfig.to_dict())
    Column("seed", Integer),
    Column("action", String(10), nullable=False),
    CheckConstraint(f"action IN ({', '.join(repr(a) for a in CHOICE_ACTIONS)})", name="ck_write_choices_action"),
)
