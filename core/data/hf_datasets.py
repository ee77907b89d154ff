"""Hugging Face datasets as sources: a local folder `load_dataset` reads, or a hub id (`user/name[:config][@split]`),
read through `datasets` itself, streamed, with the text column chosen like a JSON field (a folder written by
`save_to_disk` is read by core.data.loading itself). Offline, a hub id that is not cached is refused at once, before
`datasets` is even imported."""

from __future__ import annotations

import re
from pathlib import Path

from core.data.loading import LoadOptions, LoadResult, load_records
from core.errors import UserError

SPEC = re.compile(r"(?P<name>[^:@]+)(?::(?P<config>[^@]+))?(?:@(?P<split>.+))?")
HUB_PROBE_TIMEOUT_S = 1.0  # the hub answers within this, or the user hears it cannot be reached


def load_spec(spec: str, options: LoadOptions, *, local: bool = True) -> LoadResult:
    """`user/name[:config][@split]` (the split defaults to "train"), or with `local` a folder `load_dataset` reads
    (json, csv, parquet, text files), streamed: rows are read as they come, not downloaded whole first. The server
    passes local=False: what it may read from disk is decided by the folder source's roots."""
    found = SPEC.fullmatch(spec.strip())
    if not found:
        raise UserError.coded("hf_id_bad", spec=spec)
    name, config, split = found["name"], found["config"], found["split"] or "train"
    folder = Path(name).expanduser() if local else None
    local = folder is not None and folder.exists()
    cached = local or _check_hub(name)
    # lazy: datasets, huggingface_hub take ~680 ms to import, and only this path needs them
    import datasets
    from huggingface_hub import constants

    try:  # offline, a cached hub dataset is read from the cache: streaming would ask the hub
        rows = datasets.load_dataset(str(folder) if local else name, config, split=split,
                                     streaming=not (cached and constants.HF_HUB_OFFLINE))
    except (ValueError, FileNotFoundError, ConnectionError) as error:  # no such split, config or dataset
        raise UserError.coded("hf_unreadable", spec=spec, reason=(str(error).splitlines() or [""])[0]) from error
    columns = list(rows.features) if rows.features is not None else None
    return load_records(iter(rows), spec, "dataset", options, columns)


def _check_hub(name: str) -> bool:
    """Whether a hub id is cached; refuses one that cannot be read, in about a second: offline and not cached, or
    the hub not answering."""
    # lazy: huggingface_hub takes ~5 ms to import, and only this path needs it
    from huggingface_hub import constants

    if (Path(constants.HF_HUB_CACHE) / f"datasets--{name.replace('/', '--')}").is_dir():
        return True
    if constants.HF_HUB_OFFLINE:
        raise UserError.coded("hf_offline", name=name)
    # lazy: huggingface_hub takes ~5 ms to import, and only this path needs it
    from huggingface_hub.utils import get_session

    try:  # the hub's own session, so proxies and mirrors (HF_ENDPOINT) are honoured
        status = get_session().head(f"{constants.ENDPOINT}/api/datasets/{name}", timeout=HUB_PROBE_TIMEOUT_S).status_code
    except Exception:  # noqa: BLE001 - any connection, TLS or timeout failure means "not reachable"
        raise UserError.coded("hf_unreachable", name=name, hub=constants.ENDPOINT) from None
    if status in (401, 403):
        raise UserError.coded("hf_gated", name=name)
    if status == 404:
        raise UserError.coded("hf_missing", name=name, hub=constants.ENDPOINT)
    return False
