"""Message-store export tasks (message-store-report) and the zip archives they produce.

A task advances Accepted -> InProgress -> final status as wall time passes (judged when polled).
A task told to fail attempts first shows AttemptFailed after each failed attempt, then InProgress
again for the next one: AttemptFailed is not final (the task still holds one of the account's task
slots), as at RingCentral.
Archives are built once, on first request after completion, into files under a work directory,
streaming attachment bytes so large exports never sit in memory.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rc_pipeline.simulator.account import Account
from rc_pipeline.simulator.config import SimulatorConfig
from rc_pipeline.simulator.faults import ExportOutcome
from rc_pipeline.simulator.timefmt import iso, to_ms

FINISHED = frozenset({"Completed", "Failed", "Cancelled"})
EXPORT_TYPES = ("Fax", "SMS", "VoiceMail", "Pager")


@dataclass
class ExportTask:
    id: str
    account_id: str
    extension_id: str
    date_from: datetime
    date_to: datetime
    message_types: tuple[str, ...]
    created_wall: datetime
    created_monotonic: float
    final_status: str
    duration: float  # of one attempt
    failed_attempts: int = 0  # attempts that fail (AttemptFailed) before the one that ends the task
    archives: list[str] | None = None  # zip file paths, built on demand
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def total_duration(self) -> float:
        return self.duration * (1 + self.failed_attempts)

    def status(self, now_monotonic: float | None = None) -> str:
        elapsed = (time.monotonic() if now_monotonic is None else now_monotonic) - self.created_monotonic
        if elapsed >= self.total_duration:
            return self.final_status
        attempt, into = divmod(elapsed, self.duration)
        if attempt == 0:
            return "Accepted" if into < self.duration / 4 else "InProgress"
        # The previous attempt failed: say so for the first half of the next one, then run it.
        return "AttemptFailed" if into < self.duration / 2 else "InProgress"


class ExportLimitError(Exception):
    """Creating a task while the account already runs the maximum number of them."""


class ExportStore:
    def __init__(self, config: SimulatorConfig, account: Account, workdir: str) -> None:
        self.config = config
        self.account = account
        self.workdir = workdir
        self._tasks: dict[str, ExportTask] = {}
        self._created = 0
        self._lock = threading.Lock()

    def tasks(self) -> list[ExportTask]:
        with self._lock:
            return list(self._tasks.values())

    def get(self, task_id: str) -> ExportTask | None:
        with self._lock:
            return self._tasks.get(task_id)

    def running(self) -> int:
        return sum(1 for t in self.tasks() if t.status() not in FINISHED)

    def create(
        self, extension_id: str, date_from: datetime, date_to: datetime, message_types: tuple[str, ...]
    ) -> ExportTask:
        """Start a task; raises ExportLimitError when `max_running_exports` are unfinished."""
        with self._lock:
            unfinished = sum(1 for t in self._tasks.values() if t.status() not in FINISHED)
            if unfinished >= self.config.max_running_exports:
                raise ExportLimitError()
            outcome = self.config.faults.take_export_failure()
            if outcome is None and self.config.export_fail_pattern:
                pattern = self.config.export_fail_pattern
                outcome = ExportOutcome.of(pattern[self._created % len(pattern)])
            outcome = outcome or ExportOutcome()
            self._created += 1
            account_id = self.account.account_id
            task = ExportTask(
                id=f"{account_id}-{extension_id}-{secrets.token_hex(16)}",
                account_id=account_id,
                extension_id=extension_id,
                date_from=date_from,
                date_to=date_to,
                message_types=message_types,
                created_wall=self.account.clock.now(),
                created_monotonic=time.monotonic(),
                final_status=outcome.final,
                duration=self.config.export_task_seconds,
                failed_attempts=outcome.failed_attempts,
            )
            self._tasks[task.id] = task
            return task

    def task_json(self, task: ExportTask) -> dict:
        status = task.status()
        body = {
            "id": task.id,
            "uri": f"{self.account.base_url}/restapi/v1.0/account/{task.account_id}/message-store-report/{task.id}",
            "status": status,
            "accountId": task.account_id,
            "extensionId": task.extension_id,
            "dateFrom": iso(task.date_from),
            "dateTo": iso(task.date_to),
            "startTime": iso(task.created_wall),
            "messageTypes": list(task.message_types),
        }
        if status in FINISHED:
            body["finishTime"] = iso(task.created_wall + timedelta(seconds=task.total_duration))
        return body

    def archive_uri(self, task: ExportTask, index: int) -> str:
        return (
            f"{self.account.media_url}/restapi/v1.0/account/{task.account_id}"
            f"/message-store-report/{task.id}/archive/{index}"
        )

    def archive_paths(self, task: ExportTask) -> list[str]:
        """The task's zip files (built on first call). Only meaningful once the task is Completed."""
        with task._lock:
            if task.archives is None:
                task.archives = self._build(task)
            return list(task.archives)

    def _build(self, task: ExportTask) -> list[str]:
        folder = os.path.join(self.workdir, "exports", task.id)
        os.makedirs(folder, exist_ok=True)
        acc = task.account_id
        now_ms = self.account.clock.now_ms()
        by_extension = []
        for ext in self.account.extension_objects:
            if not ext.message_types:
                continue
            records = self.account.store.list(
                ext,
                to_ms(task.date_from),
                to_ms(task.date_to),
                now_ms,
                types=task.message_types or EXPORT_TYPES,
                # The export covers the whole message store of the window, trash included: RingCentral
                # documents it as "all account messages" of the interval and API-NOTES §7 names no
                # availability filter. Purged messages are gone and are not exported.
                availability=("Alive", "Deleted"),
            )
            if records:
                by_extension.append((ext, records))
        paths = [os.path.join(folder, "archive_0.zip")]
        with zipfile.ZipFile(paths[0], "w", zipfile.ZIP_DEFLATED) as zf:
            for ext, records in by_extension:
                body = json.dumps({"records": records}, indent=1)
                zf.writestr(f"account/{acc}/extension/{ext.id}/message-store.json", body)
        # Attachment archives: a new zip starts when the next file would push one past the size cap.
        current: zipfile.ZipFile | None = None
        current_bytes = 0
        try:
            for ext, records in by_extension:
                for msg in records:
                    for att in msg.get("attachments", []):
                        content = self.account.attachment_body(msg["id"], att["id"])
                        if content is None:
                            continue
                        if current is None or (
                            current_bytes
                            and current_bytes + content.size > self.config.export_archive_max_bytes
                        ):
                            if current is not None:
                                current.close()
                            paths.append(os.path.join(folder, f"archive_{len(paths)}.zip"))
                            current = zipfile.ZipFile(paths[-1], "w", zipfile.ZIP_STORED)
                            current_bytes = 0
                        name = att.get("fileName") or str(att["id"])
                        entry = f"account/{acc}/extension/{ext.id}/message-store/content/{msg['id']}/{name}"
                        with current.open(entry, "w", force_zip64=content.size > 2**31) as out:
                            for chunk in content.iter_range():
                                out.write(chunk)
                        current_bytes += content.size
        finally:
            if current is not None:
                current.close()
        return paths
