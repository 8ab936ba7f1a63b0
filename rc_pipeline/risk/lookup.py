"""Whether an item RingCentral is about to drop is archived and verified, as the purge would see it."""

from __future__ import annotations

from datetime import date

from rc_pipeline.control.inventory import MESSAGE_KINDS, Item, archived_messages, archived_recordings
from rc_pipeline.storage import ArchiveStorage, Dataset


class ArchiveLookup:
    """Whether an item is archived and verified, each day's table read once, each file hashed once."""

    def __init__(self, storage: ArchiveStorage) -> None:
        self.storage = storage
        self._messages: dict[date, dict[str, Item]] = {}
        self._recordings: dict[date, dict[str, Item]] = {}
        self._message_days = set(storage.list_partitions(Dataset.MESSAGES))

    def _files_problem(self, item: Item) -> str | None:
        for archived in item.files:
            check = self.storage.verify_file(archived.path, archived.bytes, archived.sha256)
            if not check.ok:
                return check.describe()
        return None

    def message_problem(self, day: date, message_id: str) -> str | None:
        if day not in self._message_days:
            return "day not archived"
        if day not in self._messages:
            items = archived_messages(self.storage, day, MESSAGE_KINDS, [])
            self._messages[day] = {i.id: i for i in items}
        item = self._messages[day].get(message_id)
        return "not archived" if item is None else self._files_problem(item)

    def recording_problem(self, day: date, recording_id: str) -> str | None:
        if day not in self._recordings:
            self._recordings[day] = {i.id: i for i in archived_recordings(self.storage, day, [])}
        item = self._recordings[day].get(recording_id)
        return "not archived" if item is None else self._files_problem(item)
