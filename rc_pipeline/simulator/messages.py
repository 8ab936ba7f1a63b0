"""Each mailbox's message store: SMS/MMS, voicemail, fax and pager messages plus their state.

Messages are generated per (extension, day) from the seed; only state changes made through the API
(read status, deletion, purge) are stored.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from rc_pipeline.simulator import media
from rc_pipeline.simulator.calllog import day_of_ms, day_start_ms
from rc_pipeline.simulator.directory import Extension
from rc_pipeline.simulator.media import BinaryContent
from rc_pipeline.simulator.rules import CREATED, MessageLimits, MessageRules, RetentionHistory, RuleDeletion
from rc_pipeline.simulator.timefmt import iso_ms, parse_iso

DAY_MS = 86_400_000
PER_DAY_SPAN = 10_000  # messages per extension per day an id can address
EXT_SPAN = 10_000  # extensions an id can address
TYPE_WEIGHTS = {"SMS": 45, "MMS": 15, "VoiceMail": 20, "Fax": 12, "Pager": 8}
CACHE_ENTRIES = 256
SMS_TEXTS = (
    "Can you call me back when you get a chance?",
    "Running 10 minutes late, sorry!",
    "Invoice 4471 is attached to the email I just sent.",
    "Thanks, that works for us.",
    "Is the order still on track for Friday?",
    "Please confirm the appointment for tomorrow at 9.",
)
VM_TEXTS = (
    "Hi, this is a message about your recent order, please call me back.",
    "Hello, returning your call from this morning. Talk soon.",
    "Quick question about the contract renewal, give me a ring.",
)


@dataclass
class _State:
    availability: str
    read_status: str
    modified_ms: int


class MessageStore:
    """Generates messages and applies the API's changes to them."""

    def __init__(
        self,
        seed: int,
        account_id: str,
        extensions: list[Extension],
        per_day: int,
        first_day: int,
        base_url: str,
        media_url: str,
        limits: MessageLimits,
        retention: RetentionHistory,
    ) -> None:
        self.seed = seed
        self.account_id = account_id
        self.extensions = extensions
        self.by_id = {e.id: e for e in extensions}
        self.per_day = per_day
        self.first_day = first_day
        self.base_url = base_url
        self.media_url = media_url
        self._cache: OrderedDict[tuple[int, int], list[dict]] = OrderedDict()
        self._state: dict[int, _State] = {}
        self._lock = threading.Lock()
        self.rules = MessageRules(
            seed, first_day, limits, retention, lambda ext_index, day: self._day(extensions[ext_index], day)
        )

    # ---- ids ----------------------------------------------------------------------------------

    def message_id(self, day: int, ext: Extension, i: int) -> int:
        return (day * EXT_SPAN + ext.index) * PER_DAY_SPAN + i

    def _decode(self, message_id: int) -> tuple[int, Extension, int] | None:
        rest, i = divmod(message_id, PER_DAY_SPAN)
        day, ext_index = divmod(rest, EXT_SPAN)
        if message_id < 0 or ext_index >= len(self.extensions):
            return None
        return day, self.extensions[ext_index], i

    def history_start_day(self, now_ms: int) -> int:
        """The mailbox's first day with messages (the account's first day, fixed at creation)."""
        return self.first_day

    # ---- generation --------------------------------------------------------------------------

    def _day(self, ext: Extension, day: int) -> list[dict]:
        """The base (unmodified) messages of one mailbox day, oldest first."""
        key = (ext.index, day)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        built = self._generate(ext, day)
        with self._lock:
            self._cache[key] = built
            while len(self._cache) > CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return built

    def _contacts(self, ext: Extension) -> list[str]:
        rng = random.Random(f"{self.seed}:contacts:{ext.id}")
        return [f"+1{rng.choice((212, 415, 512, 617, 650))}555{rng.randrange(10_000):04d}" for _ in range(5)]

    def _generate(self, ext: Extension, day: int) -> list[dict]:
        kinds = ext.message_types
        if not kinds or self.per_day <= 0:
            return []
        rng = random.Random(f"{self.seed}:messages:{ext.id}:{day}")
        count = rng.randint(0, 2 * self.per_day)
        base = day_start_ms(day)
        times = sorted(base + rng.randrange(DAY_MS) for _ in range(count))
        contacts = self._contacts(ext)
        peers = [e for e in self.extensions if e.type == "User" and e.index != ext.index] or [ext]
        out = []
        for i, created in enumerate(times):
            kind = rng.choices(kinds, weights=[TYPE_WEIGHTS[k] for k in kinds])[0]
            out.append(self._one(ext, day, i, created, kind, rng, contacts, peers))
        return out

    def _one(
        self,
        ext: Extension,
        day: int,
        i: int,
        created: int,
        kind: str,
        rng: random.Random,
        contacts: list[str],
        peers: list[Extension],
    ) -> dict:
        mid = self.message_id(day, ext, i)
        uri = f"{self.base_url}/restapi/v1.0/account/{self.account_id}/extension/{ext.id}/message-store/{mid}"
        direction = "Inbound" if kind in ("VoiceMail",) else rng.choice(("Inbound", "Outbound"))
        me = {"phoneNumber": ext.direct_number, "name": ext.name}
        contact = rng.choice(contacts)
        other = {"phoneNumber": contact, "location": "Austin, TX"}
        read = "Read" if direction == "Outbound" or rng.random() < 0.7 else "Unread"
        msg: dict = {
            CREATED: created,
            "uri": uri,
            "id": mid,
            "extensionId": str(ext.id),
            "type": "SMS" if kind == "MMS" else kind,
            "creationTime": iso_ms(created),
            "lastModifiedTime": iso_ms(created + rng.randint(200, 5000)),
            "readStatus": read,
            "priority": "Normal",
            "direction": direction,
            "availability": "Deleted" if rng.random() < 0.07 else "Alive",
        }
        attachments: list[tuple[str, str, str, int, dict]] = []  # (type, contentType, fileName, size, extra)
        if kind in ("SMS", "MMS"):
            text = rng.choice(SMS_TEXTS)
            conv = self._conversation_id(ext, contact)
            msg.update(
                subject=text,
                conversationId=conv,
                conversation={"id": str(conv), "uri": f"{self.base_url}/restapi/v1.0/conversation/{conv}"},
                messageStatus="Received" if direction == "Inbound" else "Delivered",
            )
            if direction == "Outbound":
                msg.update(smsSendingAttemptsCount=1, smsDeliveryTime=iso_ms(created + 1500))
            attachments.append(("Text", "text/plain", f"{mid}.txt", len(text.encode()), {}))
            if kind == "MMS":
                png = media.png_bytes(f"{self.seed}:{mid}")
                attachments.append(
                    ("MmsAttachment", "image/png", f"image-{mid}.png", len(png), {"width": 16, "height": 16})
                )
        elif kind == "VoiceMail":
            seconds = rng.randint(4, 90)
            status = rng.choice(("Completed", "Completed", "NotAvailable", "Failed"))
            msg.update(subject="Voice message", messageStatus="Received", vmTranscriptionStatus=status)
            attachments.append(
                (
                    "AudioRecording",
                    "audio/mpeg",
                    f"voicemail-{mid}.mp3",
                    media.mp3_size_for(seconds),
                    {"vmDuration": seconds},
                )
            )
            if status == "Completed":
                text = VM_TEXTS[mid % len(VM_TEXTS)]
                attachments.append(
                    ("AudioTranscription", "text/plain", f"transcription-{mid}.txt", len(text.encode()), {})
                )
        elif kind == "Fax":
            pages = rng.randint(1, 5)
            pdf = media.pdf_bytes(f"Fax {mid}", pages)
            msg.update(
                subject=f"Fax from {contact}" if direction == "Inbound" else "Fax",
                faxPageCount=pages,
                faxResolution=rng.choice(("High", "Low")),
                coverIndex=0,
                messageStatus="Received" if direction == "Inbound" else "Sent",
            )
            attachments.append(("RenderedDocument", "application/pdf", f"fax-{mid}.pdf", len(pdf), {}))
        else:  # Pager: an internal text between two extensions
            peer = rng.choice(peers)
            other = {"extensionNumber": peer.number, "extensionId": str(peer.id), "name": peer.name}
            me = {"extensionNumber": ext.number, "extensionId": str(ext.id), "name": ext.name}
            text = rng.choice(SMS_TEXTS)
            conv = self._conversation_id(ext, peer.number)
            msg.update(
                subject=text,
                conversationId=conv,
                conversation={"id": str(conv), "uri": f"{self.base_url}/restapi/v1.0/conversation/{conv}"},
                messageStatus="Received" if direction == "Inbound" else "Sent",
            )
            attachments.append(("Text", "text/plain", f"{mid}.txt", len(text.encode()), {}))
        msg["from"], msg["to"] = (other, [me]) if direction == "Inbound" else (me, [other])
        content_base = f"{self.media_url}/restapi/v1.0/account/{self.account_id}/extension/{ext.id}/message-store/{mid}/content"
        msg["attachments"] = [
            {
                "id": mid * 10 + k,
                "uri": f"{content_base}/{mid * 10 + k}",
                "type": a_type,
                "contentType": ctype,
                "fileName": fname,
                "size": size,
                **extra,
            }
            for k, (a_type, ctype, fname, size, extra) in enumerate(attachments)
        ]
        return msg

    def _conversation_id(self, ext: Extension, peer: str) -> int:
        return 1_000_000_000_000 + random.Random(f"{self.seed}:conv:{ext.id}:{peer}").randrange(10**12)

    # ---- reads -------------------------------------------------------------------------------

    def rule_deletion(self, msg: dict, until_ms: int) -> RuleDeletion | None:
        """When RingCentral's rules delete a generated message, if at or before until_ms (see rules.py)."""
        return self.rules.deletion((msg["id"] // PER_DAY_SPAN) % EXT_SPAN, msg, until_ms)

    def _apply(self, msg: dict, now_ms: int) -> dict:
        """The message as the API shows it at now_ms: generated, then API changes, then rule deletions."""
        with self._lock:
            state = self._state.get(msg["id"])
        out = {k: v for k, v in msg.items() if k != CREATED}
        if state is not None:
            out.update(
                availability=state.availability,
                readStatus=state.read_status,
                lastModifiedTime=iso_ms(state.modified_ms),
            )
        rule = self.rule_deletion(msg, now_ms)
        if rule is not None and not (
            state is not None and state.availability == "Purged" and state.modified_ms <= rule.at_ms
        ):
            # Purged by RingCentral (or its user) at rule.at; attachments answer 404 from then on.
            modified = round(parse_iso(out["lastModifiedTime"]).timestamp() * 1000)
            out.update(availability="Purged", lastModifiedTime=iso_ms(max(rule.at_ms, modified)))
        return out

    def base_message(self, message_id: int) -> dict | None:
        """The generated message (with its private creation time), whenever it is created."""
        found = self._decode(message_id)
        if found is None or found[0] < self.first_day:
            return None
        day, ext, i = found
        base = self._day(ext, day)
        return base[i] if i < len(base) else None

    def get(self, message_id: int, now_ms: int) -> dict | None:
        """The message with its current state, or None if it does not exist (yet)."""
        found = self._decode(message_id)
        if found is None:
            return None
        day, ext, i = found
        if not self.history_start_day(now_ms) <= day <= day_of_ms(now_ms):
            return None
        base = self._day(ext, day)
        if i >= len(base):
            return None
        msg = base[i]
        if day_of_ms(now_ms) == day and msg[CREATED] > now_ms:
            return None
        return self._apply(msg, now_ms)

    def list(
        self,
        ext: Extension,
        from_ms: int,
        to_ms: int,
        now_ms: int,
        types: Iterable[str] = (),
        availability: Iterable[str] = ("Alive",),
        directions: Iterable[str] = (),
        read_statuses: Iterable[str] = (),
        conversation_id: str | None = None,
    ) -> list[dict]:
        """Messages created in [from, to), newest first, after filters."""
        types, availability = set(types), set(availability)
        directions, read_statuses = set(directions), set(read_statuses)
        to_ms = min(to_ms, now_ms + 1)
        first = max(day_of_ms(from_ms), self.history_start_day(now_ms))
        out: list[dict] = []
        if to_ms <= from_ms:
            return out
        for day in range(min(day_of_ms(to_ms - 1), day_of_ms(now_ms)), first - 1, -1):
            for msg in reversed(self._day(ext, day)):
                created = msg[CREATED]
                if not from_ms <= created < to_ms:
                    continue
                if types and msg["type"] not in types:
                    continue
                if directions and msg["direction"] not in directions:
                    continue
                if conversation_id is not None and msg.get("conversation", {}).get("id") != conversation_id:
                    continue
                current = self._apply(msg, now_ms)
                if availability and current["availability"] not in availability:
                    continue
                if read_statuses and current["readStatus"] not in read_statuses:
                    continue
                out.append(current)
        return out

    def attachment(self, message_id: int, attachment_id: int, now_ms: int) -> BinaryContent | None:
        """The attachment body, or None when the message or attachment is unknown or purged."""
        msg = self.get(message_id, now_ms)
        if msg is None or msg["availability"] == "Purged":
            return None
        info = next((a for a in msg["attachments"] if a["id"] == attachment_id), None)
        if info is None:
            return None
        mid, a_type = message_id, info["type"]
        if a_type == "AudioRecording":
            return media.mp3_content(info["size"])
        if a_type == "MmsAttachment":
            return media.bytes_content("image/png", media.png_bytes(f"{self.seed}:{mid}"))
        if a_type == "RenderedDocument":
            return media.bytes_content("application/pdf", media.pdf_bytes(f"Fax {mid}", msg["faxPageCount"]))
        if a_type == "AudioTranscription":
            return media.bytes_content("text/plain", VM_TEXTS[mid % len(VM_TEXTS)].encode())
        return media.bytes_content("text/plain", msg["subject"].encode())

    # ---- changes -----------------------------------------------------------------------------

    def _set(
        self, msg: dict, now_ms: int, availability: str | None = None, read_status: str | None = None
    ) -> None:
        """Apply a change; every change moves lastModifiedTime forward (never backwards or in place)."""
        previous = round(parse_iso(msg["lastModifiedTime"]).timestamp() * 1000)
        with self._lock:
            state = self._state.get(msg["id"]) or _State(msg["availability"], msg["readStatus"], previous)
            if availability is not None:
                state.availability = availability
            if read_status is not None:
                state.read_status = read_status
            state.modified_ms = max(now_ms, state.modified_ms + 1)
            self._state[msg["id"]] = state

    def reset(self) -> None:
        """Forget every change made through the API: messages are as generated again."""
        with self._lock:
            self._state.clear()

    def update(
        self, message_id: int, now_ms: int, read_status: str | None, availability: str | None
    ) -> dict | None:
        """Apply a PUT/PATCH. Returns the updated message, None if unknown."""
        msg = self.get(message_id, now_ms)
        if msg is None:
            return None
        self._set(msg, now_ms, availability=availability, read_status=read_status)
        return self.get(message_id, now_ms)

    def delete(self, message_id: int, now_ms: int, purge: bool) -> bool:
        """First delete moves to Deleted, the next (or purge=True) to Purged. False if unknown/purged."""
        msg = self.get(message_id, now_ms)
        if msg is None or msg["availability"] == "Purged":
            return False
        target = "Purged" if purge or msg["availability"] == "Deleted" else "Deleted"
        self._set(msg, now_ms, availability=target)
        return True

    def delete_all(self, ext: Extension, now_ms: int, types: set[str], purge: bool) -> int:
        """A delete by id without ids (RingCentral: "all your messages will be deleted/purged").

        Each message of the mailbox (of `types`, all when empty) goes one step, exactly as if its id
        had been given: Alive -> Deleted, Deleted -> Purged (both -> Purged with purge=True).
        """
        count = 0
        for msg in self.list(ext, 0, now_ms + 1, now_ms, types=types, availability=("Alive", "Deleted")):
            count += int(self.delete(msg["id"], now_ms, purge))
        return count

    def delete_matching(
        self, ext: Extension, to_ms: int, now_ms: int, types: set[str], conversations: set[str], purge: bool
    ) -> int:
        """Delete-by-filter: every live message older than `to` of the types/conversations given."""
        count = 0
        for msg in self.list(ext, 0, to_ms, now_ms, types=types, availability=("Alive", "Deleted")):
            if conversations and msg.get("conversation", {}).get("id") not in conversations:
                continue
            if msg["availability"] == "Deleted" and not purge:
                continue
            self._set(msg, now_ms, availability="Purged" if purge else "Deleted")
            count += 1
        return count
