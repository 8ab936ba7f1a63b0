"""Files archived one per object: call recordings and message-store attachments."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from rc_pipeline.storage.atomic import upload_whole
from rc_pipeline.storage.core import StorageCore
from rc_pipeline.storage.layout import (
    DEFERRED_RECORDINGS_DIR,
    MESSAGE_CONTENT_DIR,
    RECORDINGS_DIR,
    TEMP_PREFIX,
    Dataset,
    day_dirs,
    partition_dir_name,
    recording_extension,
    safe_name,
)
from rc_pipeline.storage.modes import make_dirs, secure
from rc_pipeline.storage.temps import owner_prefix


class BlobPaths(StorageCore):
    """Recordings under ``recordings/`` and attachments under ``message_store/content/``."""

    # ------------------------------------------------------------ recordings
    def recording_path(self, partition_date: date, recording_id: str, content_type: str) -> str:
        """Final archive path of a call recording: ``recordings/YYYY/MM/DD/<id>.<mp3|wav>``."""
        name = f"{safe_name(str(recording_id), 'recording id')}.{recording_extension(content_type)}"
        return self.path(RECORDINGS_DIR, day_dirs(partition_date), name)

    @contextlib.contextmanager
    def recording_download(
        self, partition_date: date, recording_id: str, content_type: str
    ) -> Iterator[Path]:
        """Local path to download a recording into; on success it is published to `recording_path`.

        For local roots the path is a temp sibling of the final file (publication is a rename);
        for remote roots it is a local temp file that is uploaded with fsspec ``put``.
        """
        with self.staged_file(self.recording_path(partition_date, recording_id, content_type)) as local:
            yield local

    def deferred_recordings_path(self, partition_date: date) -> str:
        """The day's recordings left for a later run (budget spent), each with its deletion deadline:
        ``state/recordings_deferred/date=D.json``."""
        name = f"{partition_dir_name(Dataset.RECORDINGS, partition_date)}.json"
        return self.path(DEFERRED_RECORDINGS_DIR, name)

    def write_deferred_recordings(self, partition_date: date, rows: list[dict[str, str | None]]) -> None:
        """Replace the day's deferred list (an empty list when the run reached every recording)."""
        self.write_json(self.deferred_recordings_path(partition_date), rows)

    def read_deferred_recordings(self, partition_date: date) -> list[dict[str, str | None]]:
        """The day's deferred recordings as the last run wrote them; none when no run deferred any."""
        try:
            return list(self.read_json(self.deferred_recordings_path(partition_date)))
        except FileNotFoundError:
            return []

    def deferred_recording_days(self) -> list[date]:
        """Days with a deferred list on file (possibly empty: the last run reached every recording)."""
        directory = self.path(DEFERRED_RECORDINGS_DIR)
        self.fs.invalidate_cache(directory)
        try:
            names = self.fs.ls(directory, detail=False)
        except FileNotFoundError:
            return []
        found = (re.fullmatch(r"date=(\d{4}-\d{2}-\d{2})\.json", self.fs_name(n)) for n in names)
        return sorted(date.fromisoformat(m.group(1)) for m in found if m)

    def recording_incoming_path(self, partition_date: date, recording_id: str) -> str:
        """Local path to download a recording into before its content type is known.

        Local roots: a temp-named file in the final directory, so `publish_recording` is one
        rename. Remote roots: a file in the local temp directory. The name is fixed per
        recording so a retried download overwrites its predecessor instead of piling up.
        """
        name = f"{TEMP_PREFIX}incoming-{safe_name(str(recording_id), 'recording id')}"
        if self.is_local:
            directory = self.path(RECORDINGS_DIR, day_dirs(partition_date))
        else:
            directory = os.path.join(self._local_work_dir("rc-pipeline-incoming"), day_dirs(partition_date))
        make_dirs(directory)
        return os.path.join(directory, name)

    def publish_recording(
        self, incoming: str | os.PathLike[str], partition_date: date, recording_id: str, content_type: str
    ) -> str:
        """Move a downloaded recording from `recording_incoming_path` to its final path; returns it.

        The file is fsynced and renamed (local) or uploaded to its final key in one upload
        (remote). An unusable content type raises ValueError and discards the download.
        """
        incoming = os.fspath(incoming)
        try:
            final = self.recording_path(partition_date, recording_id, content_type)
            if self.is_local:
                secure(incoming)  # written by the API client: its mode is set here
                with open(incoming, "rb+") as handle:
                    os.fsync(handle.fileno())
                make_dirs(os.path.dirname(final))
                os.replace(incoming, final)
            else:
                upload_whole(self.fs, incoming, final, self.put_kwargs_for(final))
        finally:
            self.discard_incoming(incoming)
        return final

    def discard_incoming(self, incoming: str | os.PathLike[str]) -> None:
        """Remove a download that will not be published (a failed or abandoned fetch)."""
        with contextlib.suppress(FileNotFoundError):
            os.remove(incoming)

    # ------------------------------------------------------------ attachments
    def message_attachment_path(
        self, partition_date: date, message_id: str | int, attachment_id: str | int, extension: str
    ) -> str:
        """Archive path of a message-store attachment: stable per message and attachment id."""
        message = safe_name(str(message_id), "message id")
        attachment = safe_name(str(attachment_id), "attachment id")
        ext = safe_name(extension.lstrip("."), "extension")
        return self.path(MESSAGE_CONTENT_DIR, day_dirs(partition_date), message, f"{attachment}.{ext}")

    def attachment_staging_dir(self, token: str) -> str:
        """Local directory to extract one export's attachments into before they are published.

        Local roots: under the content tree, so each publication is a rename on the same filesystem,
        with a dot name that keeps readers away. Remote roots: a local temp directory, so the archive
        only ever receives final objects (one upload each, `publish_staged_attachment`), never a
        temp key. ``token`` (e.g. a uuid hex) keeps concurrent extractions apart.
        """
        name = f"{owner_prefix()}extract-{safe_name(str(token), 'staging token')}"
        if self.is_local:
            return self.path(MESSAGE_CONTENT_DIR, name)
        return os.path.join(self._local_work_dir("rc-pipeline-staging"), name)

    def staged_attachment_path(self, staging_dir: str, message_id: int, attachment_id: int) -> str:
        """Where one attachment waits inside ``staging_dir`` until every entry came out whole."""
        return f"{staging_dir}/{int(message_id)}-{int(attachment_id)}"

    def publish_staged_attachment(self, staged: str, target: str) -> None:
        """Put a staged attachment (a complete local file) at its archive path ``target``.

        A rename for local roots; for remote ones one upload of the final key with this archive's put
        arguments (e.g. its Object Lock retention), after which the local copy is removed.
        """
        if self.is_local:
            make_dirs(os.path.dirname(target))
            os.replace(staged, target)
            return
        upload_whole(self.fs, staged, target, self.put_kwargs_for(target))
        os.remove(staged)

    def remove_attachment_staging(self, staging_dir: str) -> None:
        """Drop a staging directory and whatever an interrupted extraction left in it."""
        shutil.rmtree(staging_dir, ignore_errors=True)

    def local_work_dirs(self) -> list[str]:
        """This machine's folders of files on their way to this (remote) archive."""
        return [self._local_work_dir("rc-pipeline-staging"), self._local_work_dir("rc-pipeline-incoming")]

    def _local_work_dir(self, purpose: str) -> str:
        """A local directory of this machine for files on their way to a remote archive, one per root
        (two archives on one machine never share one)."""
        root_key = hashlib.sha256(self.url(self.root).encode()).hexdigest()[:16]
        return os.path.join(tempfile.gettempdir(), purpose, root_key)
