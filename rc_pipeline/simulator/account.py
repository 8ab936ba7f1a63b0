"""The simulated account: ground truth that the API serves and tests compare against."""

from __future__ import annotations

import random
import threading
from datetime import datetime

from rc_pipeline.simulator import media
from rc_pipeline.simulator.calllog import CallFilter, CallLog, RecordingRef, day_of_ms
from rc_pipeline.simulator.clock import SimClock
from rc_pipeline.simulator.config import SimulatorConfig
from rc_pipeline.simulator.directory import Extension, build_extensions, extension_record
from rc_pipeline.simulator.media import BinaryContent
from rc_pipeline.simulator.messages import MessageStore
from rc_pipeline.simulator.rules import (
    HIPAA_RECORDING_DAYS,
    MessageLimits,
    RecordingRules,
    RetentionHistory,
    RuleDeletion,
)
from rc_pipeline.simulator.timefmt import to_ms

DAY_MS = 86_400_000
FAR_FUTURE_MS = 2**62  # "whenever": rules bound their own search (recordings expire within 90 days)


class Account:
    """One RingCentral account generated from `config.seed`; only API-made changes are stored.

    Its history is anchored: the first day with traffic is fixed when the account is created
    (`config.days` before the simulated today), and advancing `clock` adds new days of traffic.
    """

    def __init__(
        self, config: SimulatorConfig, base_url: str, media_url: str, clock: SimClock | None = None
    ) -> None:
        self.config = config
        self.clock = clock if clock is not None else SimClock()
        self.first_day = day_of_ms(self.clock.now_ms()) - config.days
        self.base_url = base_url
        self.media_url = media_url
        rng = random.Random(f"{config.seed}:account")
        self.account_id = str(400_000_000_000 + rng.randrange(100_000_000_000))
        self.main_number = f"+1650555{rng.randrange(1000, 9000):04d}"
        self._extensions = build_extensions(
            config.seed, max(1, config.extensions), config.extension, self.main_number
        )
        self.owner: Extension = self._extensions[0]
        self.calls = CallLog(
            seed=config.seed,
            account_id=self.account_id,
            extensions=self._extensions,
            calls_per_day=config.calls_per_day,
            first_day=self.first_day,
            recording_share=config.recording_share,
            visibility_delay=config.call_visibility_delay,
            recording_attach_delay=config.recording_attach_delay,
            base_url=base_url,
            media_url=media_url,
            retention_days=config.call_log_retention_days,
        )
        recording_days = config.recording_retention_days
        if config.hipaa:
            recording_days = min(recording_days, HIPAA_RECORDING_DAYS)
        self.recording_rules = RecordingRules(self.calls, recording_days, config.recordings_account_limit)
        self._retention = RetentionHistory(config.retention_period)
        self.store = MessageStore(
            seed=config.seed,
            account_id=self.account_id,
            extensions=self._extensions,
            per_day=config.messages_per_day,
            first_day=self.first_day,
            base_url=base_url,
            media_url=media_url,
            limits=MessageLimits(
                voicemail_box_limit=config.voicemail_box_limit,
                sms_folder_limit=config.sms_folder_limit,
                sent_fax_days=config.sent_fax_days,
                user_purge_share=config.user_purge_share,
                user_purge_within_hours=config.user_purge_within_hours,
                hipaa=config.hipaa,
            ),
            retention=self._retention,
        )
        self._deleted_recordings: set[str] = set()
        self._lock = threading.Lock()

    # ---- test support -------------------------------------------------------------------------

    def reset_changes(self) -> None:
        """Forget every change made through the API, for tests that reuse one simulator.

        Messages get their generated availability and read status (and lastModifiedTime) back,
        deleted recordings come back, and the retention period returns to `config.retention_period`.
        Sessions, rate-limit windows, export tasks and the request log are untouched (clear the log
        with `sim.request_log.clear()`).
        """
        self.store.reset()
        with self._lock:
            self._deleted_recordings.clear()
        self._retention.reset(self.config.retention_period)

    # ---- message store configuration -------------------------------------------------------------

    @property
    def retention_period(self) -> int:
        """The message store's retentionPeriod in days (fax and voicemail older than it are deleted)."""
        return self._retention.current

    @retention_period.setter
    def retention_period(self, days: int) -> None:
        """Change it now (simulated time): older fax and voicemail go at once, nothing comes back."""
        self._retention.set(days, self.clock.now_ms())

    # ---- extensions --------------------------------------------------------------------------

    @property
    def extension_objects(self) -> list[Extension]:
        return list(self._extensions)

    def extensions(self) -> list[dict]:
        """Every extension as the extension list returns it, in list order."""
        return [extension_record(e, self.base_url, self.account_id) for e in self._extensions]

    def find_extension(self, ref: str) -> Extension | None:
        """Resolve a path's extensionId ('~' is the authorised user)."""
        if ref == "~":
            return self.owner
        if not ref.isdigit():
            return None
        return next((e for e in self._extensions if e.id == int(ref)), None)

    # ---- call log ----------------------------------------------------------------------------

    def call_records(self, date_from: datetime, date_to: datetime, view: str = "Detailed") -> list[dict]:
        """Every company call record the API lists for [date_from, date_to) right now, newest first.

        "Right now" matters: recordings attach `recording_attach_delay` after a call appears, so two
        calls of this a few minutes apart can differ exactly as two listings would.
        """
        now_ms = self.clock.now_ms()
        return [
            self.calls.render(sk.day, i, view, now_ms=now_ms)
            for sk, i in self.calls.iter_matches(to_ms(date_from), to_ms(date_to), now_ms, CallFilter())
        ]

    def recording_deleted(self, recording_id: str) -> bool:
        with self._lock:
            return recording_id in self._deleted_recordings

    def delete_recordings(self, recording_ids: list[str]) -> list[str]:
        """Delete recording files; returns the ids that did not exist (nothing is deleted then).

        Only the audio goes: the call-log records keep their `recording` reference (RingCentral's
        spec: "deletes the recording file itself, not the record of it in the call log"), whose
        metadata and content then answer 404. An id already deleted counts as not existing.
        """
        now_ms = self.clock.now_ms()
        missing = [r for r in recording_ids if self.recording_location(r, now_ms) is None]
        if not missing:
            with self._lock:
                self._deleted_recordings.update(recording_ids)
        return missing

    def recording_location(self, recording_id: str, now_ms: int) -> RecordingRef | None:
        """The call (and leg) owning a live recording; None when unknown, not attached yet, deleted
        through the API or deleted by RingCentral's rules (expired, beyond the account limit)."""
        if self.recording_deleted(recording_id):
            return None
        ref = self.calls.locate_recording(recording_id, now_ms)
        if ref is None or self.recording_rules.deletion(ref, now_ms) is not None:
            return None
        return ref

    # ---- ground truth of RingCentral's deletion rules (tests, benchmarks) ----------------------

    def recording_deletion(self, recording_id: str) -> RuleDeletion | None:
        """When RingCentral's rules delete a recording (past or future) and by which rule; None when
        no rule ever does (on-demand recordings). KeyError when the id names no kept recording.
        Ignores deletions through the API and whether the call is visible yet."""
        ref = self.calls.recording_ref(recording_id)
        if ref is None:
            raise KeyError(recording_id)
        return self.recording_rules.deletion(ref, FAR_FUTURE_MS)

    def recording_expiry(self, recording_id: str) -> datetime | None:
        """`recording_deletion(...).at`: when the rules delete the recording (None: never)."""
        found = self.recording_deletion(recording_id)
        return found.at if found is not None else None

    def message_deletion(self, message_id: int, horizon_days: int = 366) -> RuleDeletion | None:
        """When RingCentral's rules (limits, retention, user purge) delete a message, if that is
        within `horizon_days` of now (past deletions included); None otherwise. Ignores deletions
        through the API. KeyError when the id names no generated message."""
        base = self.store.base_message(int(message_id))
        if base is None:
            raise KeyError(message_id)
        return self.store.rule_deletion(base, self.clock.now_ms() + horizon_days * DAY_MS)

    def deleted_by_rules(self, kind: str, item_id: str | int) -> bool:
        """Whether the rules have deleted the item by now: kind "recording" or "message"."""
        now_ms = self.clock.now_ms()
        if kind == "recording":
            found = self.recording_deletion(str(item_id))
        elif kind == "message":
            found = self.message_deletion(int(item_id), horizon_days=0)
        else:
            raise ValueError(f"kind must be 'recording' or 'message', not {kind!r}")
        return found is not None and found.at_ms <= now_ms

    def large_recording_id(self) -> str | None:
        """Id of the recording sized `config.large_recording_bytes` (None when that is not set)."""
        if not self.config.large_recording_bytes:
            return None
        found = self.calls.designated_large_recording(self.clock.now_ms())
        return self.calls.recording_id(*found) if found else None

    def recording_body(self, recording_id: str) -> BinaryContent | None:
        """The recording's audio, or None when there is no such (live) recording."""
        found = self.recording_location(recording_id, self.clock.now_ms())
        if found is None:
            return None
        content_type, size = self.calls.recording_format(found)
        if recording_id == self.large_recording_id():
            # Always WAV: MP3 bodies are whole frames, so only WAV can honour an exact configured size
            # (which recording is designated moves with the date, and with it the format).
            return media.wav_content(
                f"{self.config.seed}:{recording_id}", int(self.config.large_recording_bytes or size)
            )
        if content_type == "audio/wav":
            return media.wav_content(f"{self.config.seed}:{recording_id}", size)
        return media.mp3_content(size)

    def recording_metadata(self, recording_id: str) -> dict | None:
        body = self.recording_body(recording_id)
        if body is None:
            return None
        per_second = media.WAV_RATE * 2 if body.content_type == "audio/wav" else media.MP3_BYTES_PER_SECOND
        return {
            "uri": f"{self.base_url}/restapi/v1.0/account/{self.account_id}/recording/{recording_id}",
            "id": recording_id,
            "contentUri": f"{self.media_url}/restapi/v1.0/account/{self.account_id}/recording/{recording_id}/content",
            "contentType": body.content_type,
            "duration": body.size // per_second,
        }

    def recording_content(self, recording_id: str) -> tuple[bytes, str]:
        """The whole recording (bytes, content type). Raises KeyError if there is none."""
        body = self.recording_body(recording_id)
        if body is None:
            raise KeyError(recording_id)
        return body.read_all(), body.content_type

    # ---- messages ----------------------------------------------------------------------------

    def messages(
        self,
        extension_id: int | str,
        date_from: datetime,
        date_to: datetime,
        availability: tuple[str, ...] = ("Alive",),
    ) -> list[dict]:
        """The extension's messages created in [date_from, date_to), newest first, as the API lists them."""
        ext = self.find_extension(str(extension_id))
        if ext is None:
            raise KeyError(extension_id)
        return self.store.list(
            ext, to_ms(date_from), to_ms(date_to), self.clock.now_ms(), availability=availability
        )

    def attachment_body(self, message_id: int, attachment_id: int) -> BinaryContent | None:
        return self.store.attachment(message_id, attachment_id, self.clock.now_ms())

    def attachment_content(self, message_id: int | str, attachment_id: int | str) -> tuple[bytes, str]:
        """An attachment's (bytes, content type). Raises KeyError if there is none."""
        body = self.attachment_body(int(message_id), int(attachment_id))
        if body is None:
            raise KeyError((message_id, attachment_id))
        return body.read_all(), body.content_type
