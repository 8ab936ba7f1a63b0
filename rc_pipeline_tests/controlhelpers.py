"""An archived simulated day, and what the simulator saw of deletions, for the control tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import unquote

import dagster as dg

from rc_pipeline.defs.resources import close_shared_clients
from rc_pipeline.ringcentral import RingCentralClient, RingCentralSettings
from rc_pipeline.storage import ArchiveStorage
from rc_pipeline_tests.messagehelpers import snapshot_extensions, window_of
from rc_pipeline_tests.pipelinehelpers import (
    archive_day,
    message_settings,
    pipeline_for,
    run_messages,
    yesterday,
)

# One id per path segment, comma-separated: `.../message-store/1,2,3`.
MESSAGE_IDS_IN_PATH = re.compile(r"/message-store/([^/]+)$")


@dataclass
class Archived:
    sim: Any
    storage: ArchiveStorage
    day: date


def archive_one_day(sim: Any, root: str, *, calls: bool = True) -> Archived:
    """Yesterday archived the listing way (messages) and, when asked, the call side with recordings."""
    day = yesterday()
    defs = pipeline_for(sim, root, messages=message_settings(source="listing"))
    with dg.instance_for_test() as instance:
        snapshot_extensions(defs, instance)
        if calls:
            assert archive_day(defs, day, instance=instance).success
        result = run_messages(defs, day, instance)
        assert result.success, result
    close_shared_clients()
    return Archived(sim, ArchiveStorage(root), day)


def client_for(sim: Any, **kwargs: Any) -> RingCentralClient:
    settings = RingCentralSettings(
        server_url=sim.base_url,
        media_url=sim.media_url,
        client_id=sim.client_id,
        client_secret=sim.client_secret,
        jwt=sim.jwt,
    )
    return RingCentralClient(settings, throttle_dir=None, **kwargs)


def source_messages(
    sim: Any, day: date, availability: tuple[str, ...] = ("Alive", "Deleted", "Purged")
) -> dict:
    """Every message the simulated account has for the day, by id (in-process: no request logged)."""
    start, end = window_of(day)
    out = {}
    for ext in sim.account.extension_objects:
        for message in sim.account.messages(ext.id, start, end, availability=availability):
            out[str(message["id"])] = message
    return out


def deleted_message_ids(sim: Any) -> list[str]:
    """Ids of every by-id message delete the simulator answered successfully, in order."""
    ids = []
    for entry in sim.request_log:
        match = MESSAGE_IDS_IN_PATH.search(entry.path)
        if entry.method == "DELETE" and match and 200 <= entry.status < 300:
            ids.extend(unquote(match.group(1)).split(","))
    return ids


def dangerous_requests(sim: Any) -> list[str]:
    """Requests an archive must never send: a delete by filter, or a delete/update without ids."""
    bad = []
    for entry in sim.request_log:
        if entry.method == "DELETE" and entry.path.endswith("/message-store"):
            bad.append(f"delete by filter {entry.path}?{entry.query}")
        match = MESSAGE_IDS_IN_PATH.search(entry.path)
        if entry.method in ("DELETE", "PUT", "PATCH") and match and not unquote(match.group(1)).strip(", "):
            bad.append(f"empty id list {entry.method} {entry.path}")
        if match and len(unquote(match.group(1)).split(",")) > 50:
            bad.append(f"more than 50 ids {entry.method} {entry.path}")
    return bad
