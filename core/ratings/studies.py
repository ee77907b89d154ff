"""Optuna studies kept in the lab database: the settings arena's (core.ratings.arena) and the sweeps'
(core.train.sweep) share one storage per database."""

from __future__ import annotations

import os

from core.workspace import Workspace

_STORAGES: dict[str, object] = {}


def storage(url: str):
    """One RDBStorage per database (its engine is costly). A long busy timeout on SQLite: the scheduler, each trainer
    and the pages share the file, and a writer waits instead of failing."""
    # lazy: optuna takes ~170 ms to import, and only this path needs it
    import optuna

    if url not in _STORAGES:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        kwargs = {"connect_args": {"timeout": 30}} if url.startswith("sqlite") else {}
        _STORAGES[url] = optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    return _STORAGES[url]


def storage_url(workspace: Workspace) -> str:
    return os.environ.get("QUILL_DB_URL") or f"sqlite:///{workspace.db_path}"
