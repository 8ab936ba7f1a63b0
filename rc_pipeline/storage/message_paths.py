"""Paths and commit markers of the message store: export zips, attachment index, export task state."""

from __future__ import annotations

import hashlib
from datetime import date

from rc_pipeline.storage.core import StorageCore
from rc_pipeline.storage.layout import (
    ATTACHMENT_INDEX_FILE,
    CAPTURE_STATE_DIR,
    EXPORT_LEASE_FILE,
    EXPORT_STATE_DIR,
    MESSAGES_BUILT_FROM_DIR,
    RAW_MANIFEST_FILE,
    Dataset,
    parse_partition_dir_name,
    partition_dir_name,
    safe_name,
)
from rc_pipeline.storage.manifest import ExportManifest

_TASK_DIR_PREFIX = "task="
# Per-task commit marker inside `task=<id>/` (the partition's `_manifest.json` names the newest task).
TASK_MANIFEST_FILE = "_task_manifest.json"


class MessageStorePaths(StorageCore):
    """Message-store paths under the archive root: the raw export partitions and the export task state."""

    # ------------------------------------------------------------ raw message store
    def raw_partition_manifest(self, dataset: Dataset | str, day: date) -> str:
        """The commit marker of a raw message-store partition (listing or export)."""
        return f"{self.partition_dir(dataset, day)}/{RAW_MANIFEST_FILE}"

    def attachment_index_path(self, dataset: Dataset | str, day: date) -> str:
        """``attachments.json`` of a raw message-store partition: where each attachment file went."""
        return f"{self.partition_dir(dataset, day)}/{ATTACHMENT_INDEX_FILE}"

    def export_task_dir(self, day: date, task_id: str) -> str:
        """Directory holding one export task's zips: ``.../date=D/task=<taskId>``."""
        task = safe_name(str(task_id), "export task id")
        return f"{self.partition_dir(Dataset.RAW_MESSAGE_EXPORT, day)}/{_TASK_DIR_PREFIX}{task}"

    def export_part_path(self, day: date, task_id: str, index: int) -> str:
        """Archive part ``index`` of an export task, kept exactly as downloaded."""
        if index < 0:
            raise ValueError(f"archive index must be >= 0, got {index}")
        return f"{self.export_task_dir(day, task_id)}/archive_{index}.zip"

    def export_task_manifest_path(self, day: date, task_id: str) -> str:
        """Commit marker of one export task's zips: written once they were vetted and extracted."""
        return f"{self.export_task_dir(day, task_id)}/{TASK_MANIFEST_FILE}"

    def write_export_task_manifest(self, day: date, manifest: ExportManifest) -> None:
        """Commit one task of ``day`` (its zips stay for good: see `committed_exports`)."""
        self.atomic_write_bytes(self.export_task_manifest_path(day, manifest.task_id), manifest.to_json())

    def committed_exports(self, day: date) -> list[ExportManifest]:
        """Every committed export task of ``day``, oldest fetch first.

        Export task directories are never deleted: RingCentral purges messages, so a later export
        of the same day can hold fewer messages than an earlier one, and the archive must keep what
        it once held. The tables are built from all of them (newest ``lastModifiedTime`` wins).
        The partition manifest's task counts even without its own marker (archives written before
        task markers existed).
        """
        found: dict[str, ExportManifest] = {}
        base = self.partition_dir(Dataset.RAW_MESSAGE_EXPORT, day)
        try:
            entries = self.fs.ls(base, detail=False)
        except FileNotFoundError:
            entries = []
        for entry in entries:
            name = entry.rstrip("/").rpartition("/")[2]
            if not name.startswith(_TASK_DIR_PREFIX):
                continue
            marker = f"{entry.rstrip('/')}/{TASK_MANIFEST_FILE}"
            if self.exists(marker):
                with self.fs.open(marker, "rb") as handle:
                    manifest = ExportManifest.from_json(handle.read())
                found[manifest.task_id] = manifest
        try:
            current = self.read_export_manifest(day)
        except FileNotFoundError:
            current = None
        if current is not None and current.task_id not in found:
            found[current.task_id] = current
        return sorted(found.values(), key=lambda m: (m.fetched_at, m.task_id))

    # ------------------------------------------------------------ export task state
    def export_state_path(self, day: date) -> str:
        """The export task state of one partition: ``state/message_store_export/date=D.json``."""
        return self.path(EXPORT_STATE_DIR, f"{partition_dir_name(Dataset.RAW_MESSAGE_EXPORT, day)}.json")

    def export_lease_path(self) -> str:
        """Lock file that lets one process at a time read-modify-write the export task state."""
        return self.path(EXPORT_STATE_DIR, EXPORT_LEASE_FILE)

    def export_state_days(self) -> list[date]:
        """Days that have an export task state file, sorted."""
        try:
            entries = self.fs.ls(self.path(EXPORT_STATE_DIR), detail=False)
        except FileNotFoundError:
            return []
        days = []
        for entry in entries:
            name = entry.rstrip("/").rpartition("/")[2]
            if not name.endswith(".json"):
                continue
            day = parse_partition_dir_name(Dataset.RAW_MESSAGE_EXPORT, name[: -len(".json")])
            if day is not None:
                days.append(day)
        return sorted(days)

    # ------------------------------------------------------------ export manifest
    def read_export_manifest(self, day: date) -> ExportManifest:
        """The committed export of ``day``; FileNotFoundError when the partition is not complete."""
        with self.fs.open(self.raw_partition_manifest(Dataset.RAW_MESSAGE_EXPORT, day), "rb") as handle:
            return ExportManifest.from_json(handle.read())

    def write_export_manifest(self, day: date, manifest: ExportManifest) -> None:
        """Commit the export partition of ``day`` (write this last)."""
        self.atomic_write_bytes(
            self.raw_partition_manifest(Dataset.RAW_MESSAGE_EXPORT, day), manifest.to_json()
        )

    # ------------------------------------------------------------ message capture state
    def capture_state_path(self, extension_id: int) -> str:
        """The message-sync state (sync token, when its chain began) of one extension."""
        ext = safe_name(str(int(extension_id)), "extension id")
        return self.path(CAPTURE_STATE_DIR, f"extension={ext}.json")

    def capture_pending_path(self) -> str:
        """Attachments of captured messages whose download failed: retried by the next capture."""
        return self.path(CAPTURE_STATE_DIR, "pending_attachments.json")

    def capture_lease_path(self) -> str:
        """Lock file that lets one capture at a time write the capture layer and its state."""
        return self.path(CAPTURE_STATE_DIR, EXPORT_LEASE_FILE)

    def capture_signature(self, day: date) -> str | None:
        """A digest of what the captures hold for ``day`` (its `_captures.json` and attachment index):
        it changes whenever a capture adds a response or an attachment. None: nothing captured."""
        digest = hashlib.sha256()
        found = False
        for path in (
            self.capture_manifest_path(day),
            self.attachment_index_path(Dataset.RAW_MESSAGE_CAPTURE, day),
        ):
            try:
                with self.fs.open(path, "rb") as handle:
                    digest.update(handle.read())
                found = True
            except FileNotFoundError:
                pass
            digest.update(b"\0")
        return digest.hexdigest()[:32] if found else None

    def messages_built_from_path(self, day: date) -> str:
        return self.path(MESSAGES_BUILT_FROM_DIR, f"date={day.isoformat()}.json")

    def messages_built_from(self, day: date) -> str | None:
        """The capture signature the day's message tables were last built with (None: none)."""
        try:
            value = self.read_json(self.messages_built_from_path(day))
        except FileNotFoundError:
            return None
        return value.get("capture_signature") if isinstance(value, dict) else None

    def record_messages_built_from(self, day: date, signature: str | None) -> None:
        """Written after the day's message tables: what captures they include."""
        self.write_json(self.messages_built_from_path(day), {"capture_signature": signature})
