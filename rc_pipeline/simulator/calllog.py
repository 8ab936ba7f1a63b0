"""The company call log, generated one day at a time from (seed, day).

A day is first drawn as a compact skeleton (start, duration, owner, scenario and recording flags in
arrays), which is enough to filter and page; full JSON records are built only for the rows a
response needs. That keeps 100k calls a day cheap in memory.
"""

from __future__ import annotations

import bisect
import hashlib
import random
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from rc_pipeline.simulator import media
from rc_pipeline.simulator.directory import Extension
from rc_pipeline.simulator.ids import base62, seed_key, unbase62
from rc_pipeline.simulator.timefmt import iso_ms

DAY_MS = 86_400_000
MAX_CALL_SECONDS = 7200
INDEX_SPAN = 10_000_000  # calls per day an id can address
# Call-level and leg-level recording ids live in disjoint ranges (day * INDEX_SPAN stays below 1e13
# until the year 2700), so an id alone says which recording it is.
RECORDING_ID_OFFSET = 10_000_000_000_000
LEG_RECORDING_ID_OFFSET = 20_000_000_000_000
SKELETON_CACHE_DAYS = 6
SHORT_RECORDING_SECONDS = 30

# scenario: (name, weight, type, direction)
SCENARIOS = (
    ("inbound_answered", 30, "Voice", "Inbound"),
    ("outbound_answered", 22, "Voice", "Outbound"),
    ("inbound_missed", 10, "Voice", "Inbound"),
    ("inbound_voicemail", 8, "Voice", "Inbound"),
    ("inbound_transferred", 6, "Voice", "Inbound"),
    ("inbound_forwarded", 5, "Voice", "Inbound"),
    ("outbound_no_answer", 5, "Voice", "Outbound"),
    ("fax_inbound", 4, "Fax", "Inbound"),
    ("fax_outbound", 3, "Fax", "Outbound"),
    ("internal", 7, "Voice", "Outbound"),
)
ANSWERED = frozenset({0, 1, 4, 5, 9})
TRANSFERRED, FORWARDED = 4, 5  # scenarios whose second leg can carry its own recording
REC_NONE, REC_AUTOMATIC, REC_ON_DEMAND, REC_SHORT = 0, 1, 2, 3
KEPT = frozenset({REC_AUTOMATIC, REC_ON_DEMAND})
# Share of recorded transfer legs whose call was recorded on that leg only (the recording rule
# followed the call to the second agent), so the call itself carries no `recording`.
LEG_ONLY_SHARE = 0.5
CITIES = ("San Mateo, CA", "Austin, TX", "Denver, CO", "Boston, MA", "Chicago, IL", "Seattle, WA")


@dataclass
class DaySkeleton:
    """One day's calls, newest first. Row i of every array describes call index i."""

    day: int
    neg_start: array = field(default_factory=lambda: array("q"))  # -startMs, ascending for bisect
    duration: array = field(default_factory=lambda: array("l"))
    owner: array = field(default_factory=lambda: array("l"))  # Extension.index
    scenario: array = field(default_factory=lambda: array("b"))
    recording: array = field(default_factory=lambda: array("b"))
    wav: array = field(default_factory=lambda: array("b"))
    # Second leg of a transferred/forwarded call: its duration and its own recording (REC_NONE else).
    leg_duration: array = field(default_factory=lambda: array("l"))
    leg_recording: array = field(default_factory=lambda: array("b"))

    def __len__(self) -> int:
        return len(self.neg_start)

    def start_ms(self, i: int) -> int:
        return -self.neg_start[i]

    def visible_at_ms(self, i: int, delay_ms: int) -> int:
        return -self.neg_start[i] + self.duration[i] * 1000 + delay_ms

    def has_recording_state(self, i: int) -> bool:
        """Whether anything recording-related (recording, shortRecording, a leg recording) attaches late."""
        return self.recording[i] != REC_NONE or self.leg_recording[i] != REC_NONE


@dataclass(frozen=True)
class RecordingRef:
    """Which recording an id names: the call-level one or the second leg's own."""

    day: int
    index: int
    leg: bool


@dataclass(frozen=True)
class CallFilter:
    """The call-log query filters that can be answered from the skeleton alone."""

    types: frozenset[str] = frozenset()
    directions: frozenset[str] = frozenset()
    recording_types: frozenset[int] = frozenset()  # REC_AUTOMATIC / REC_ON_DEMAND
    owner_index: int | None = None
    missed_only: bool = False

    def accepts(self, sk: DaySkeleton, i: int, recording: int) -> bool:
        """`recording` is the call-level recording kind as listed right now (REC_NONE before it attaches).

        Only the call-level recording counts for recordingType: a call recorded on a leg only is not
        assumed to match, so a consumer cannot lean on the filter to find leg recordings.
        """
        _, _, ctype, direction = SCENARIOS[sk.scenario[i]]
        if self.types and ctype not in self.types:
            return False
        if self.directions and direction not in self.directions:
            return False
        if self.recording_types and recording not in self.recording_types:
            return False
        if self.owner_index is not None and sk.owner[i] != self.owner_index:
            return False
        return not (self.missed_only and sk.scenario[i] != 2)


def day_start_ms(day: int) -> int:
    return int(datetime.combine(date.fromordinal(day), datetime.min.time(), UTC).timestamp() * 1000)


def day_of_ms(ms: int) -> int:
    return datetime.fromtimestamp(ms / 1000, UTC).date().toordinal()


class CallLog:
    """Generates, filters and renders call records for one account."""

    def __init__(
        self,
        seed: int,
        account_id: str,
        extensions: list[Extension],
        calls_per_day: int,
        first_day: int,
        recording_share: float,
        visibility_delay: float,
        recording_attach_delay: float,
        base_url: str,
        media_url: str,
        retention_days: int = 365,
    ) -> None:
        self.seed = seed
        self.retention_ms = retention_days * DAY_MS
        self.account_id = account_id
        self.extensions = extensions
        self.calls_per_day = calls_per_day
        self.first_day = first_day
        self.recording_share = recording_share
        self.delay_ms = int(visibility_delay * 1000)
        self.attach_delay_ms = int(recording_attach_delay * 1000)
        self.base_url = base_url
        self.media_url = media_url
        self._id_key = seed_key(seed, "call-id", 40)
        self._cache: OrderedDict[int, DaySkeleton] = OrderedDict()
        self._lock = threading.Lock()
        # Who places which calls; extension 0 (the enabled admin user) is the fallback for each.
        callers = [e for e in extensions if e.calls]
        self._inbound = [e.index for e in callers if e.type != "FaxUser"] or [0]
        self._outbound = [e.index for e in callers if e.type in ("User", "VirtualUser")] or [0]
        self._fax = [e.index for e in callers if e.type in ("User", "FaxUser")] or [0]

    # ---- time window -------------------------------------------------------------------------

    def history_start_ms(self, now_ms: int) -> int:
        """Oldest call start still listed: the account's first day (fixed at creation), or the call
        log's retention (`call_log_retention_days` before now) once that is later."""
        return max(day_start_ms(self.first_day), now_ms - self.retention_ms)

    # ---- skeletons ---------------------------------------------------------------------------

    def skeleton(self, day: int) -> DaySkeleton:
        with self._lock:
            sk = self._cache.get(day)
            if sk is not None:
                self._cache.move_to_end(day)
                return sk
        sk = self._build_skeleton(day)
        with self._lock:
            self._cache[day] = sk
            while len(self._cache) > SKELETON_CACHE_DAYS:
                self._cache.popitem(last=False)
        return sk

    def _build_skeleton(self, day: int) -> DaySkeleton:
        rng = random.Random(f"{self.seed}:calls:{day}")
        n = self.calls_per_day
        base = day_start_ms(day)
        starts = sorted((base + rng.randrange(DAY_MS) for _ in range(n)), reverse=True)
        scenarios = rng.choices(range(len(SCENARIOS)), weights=[s[1] for s in SCENARIOS], k=n)
        sk = DaySkeleton(day)
        sk.neg_start.extend(-s for s in starts)
        for sc in scenarios:
            if sc in (7, 8):
                owner = rng.choice(self._fax)
                dur = rng.randint(30, 240)
            elif sc in (1, 6, 9):
                owner = rng.choice(self._outbound)
                dur = rng.randint(10, 45) if sc == 6 else self._talk_seconds(rng)
            else:
                owner = rng.choice(self._inbound)
                dur = {2: rng.randint(5, 40), 3: rng.randint(15, 120)}.get(sc) or self._talk_seconds(rng)
            rec = REC_NONE
            if sc in ANSWERED and rng.random() < self.recording_share:
                if dur < SHORT_RECORDING_SECONDS:
                    rec = REC_SHORT
                else:
                    rec = REC_AUTOMATIC if rng.random() < 0.7 else REC_ON_DEMAND
            sk.duration.append(dur)
            sk.owner.append(owner)
            sk.scenario.append(sc)
            sk.recording.append(rec)
            sk.wav.append(1 if rng.random() < 0.2 else 0)
        self._draw_second_legs(sk)
        return sk

    def _draw_second_legs(self, sk: DaySkeleton) -> None:
        """Second-leg durations and recordings, from their own stream so the draws above keep their values."""
        rng = random.Random(f"{self.seed}:legs:{sk.day}")
        for i in range(len(sk)):
            sc, dur = sk.scenario[i], sk.duration[i]
            leg_dur, leg_rec = 0, REC_NONE
            if sc == TRANSFERRED:
                leg_dur = dur - rng.randint(5, max(5, dur // 2))
                if leg_dur >= SHORT_RECORDING_SECONDS and rng.random() < self.recording_share:
                    leg_rec = REC_AUTOMATIC if rng.random() < 0.7 else REC_ON_DEMAND
                    if rng.random() < LEG_ONLY_SHARE:
                        sk.recording[i] = REC_NONE
            elif sc == FORWARDED:
                leg_dur = max(0, dur - 2)
                if leg_dur >= SHORT_RECORDING_SECONDS and rng.random() < self.recording_share / 2:
                    leg_rec = REC_AUTOMATIC if rng.random() < 0.7 else REC_ON_DEMAND
            sk.leg_duration.append(leg_dur)
            sk.leg_recording.append(leg_rec)

    @staticmethod
    def _talk_seconds(rng: random.Random) -> int:
        # Log-normal: most calls last a minute or two, a few run long.
        return max(5, min(MAX_CALL_SECONDS, int(rng.lognormvariate(4.3, 1.0))))

    # ---- ids ----------------------------------------------------------------------------------

    def call_id(self, day: int, i: int) -> str:
        return base62((day * INDEX_SPAN + i) ^ self._id_key)

    def recording_id(self, day: int, i: int, leg: bool = False) -> str:
        return str((LEG_RECORDING_ID_OFFSET if leg else RECORDING_ID_OFFSET) + day * INDEX_SPAN + i)

    def locate_call(self, call_id: str, now_ms: int) -> tuple[int, int] | None:
        """(day, index) of a visible call, or None when the id names no such call."""
        try:
            n = unbase62(call_id) ^ self._id_key
        except ValueError:
            return None
        return self._locate(n, now_ms)

    def locate_recording(self, recording_id: str, now_ms: int) -> RecordingRef | None:
        """The kept recording an id names, or None (unknown, or not attached to its call yet)."""
        if not recording_id.isdigit():
            return None
        n = int(recording_id)
        leg = n >= LEG_RECORDING_ID_OFFSET
        found = self._locate(n - (LEG_RECORDING_ID_OFFSET if leg else RECORDING_ID_OFFSET), now_ms)
        if found is None:
            return None
        sk = self.skeleton(found[0])
        kind = sk.leg_recording[found[1]] if leg else sk.recording[found[1]]
        if kind not in KEPT or not self.recording_attached(sk, found[1], now_ms):
            return None
        return RecordingRef(found[0], found[1], leg)

    def recording_ref(self, recording_id: str) -> RecordingRef | None:
        """The kept recording an id names, whenever its call happens (no visibility check)."""
        if not recording_id.isdigit():
            return None
        n = int(recording_id)
        leg = n >= LEG_RECORDING_ID_OFFSET
        day, i = divmod(n - (LEG_RECORDING_ID_OFFSET if leg else RECORDING_ID_OFFSET), INDEX_SPAN)
        if day < self.first_day or day > 3_000_000:
            return None
        sk = self.skeleton(day)
        if i >= len(sk) or (sk.leg_recording[i] if leg else sk.recording[i]) not in KEPT:
            return None
        return RecordingRef(day, i, leg)

    # ---- late recordings ---------------------------------------------------------------------

    def recording_attached_at_ms(self, sk: DaySkeleton, i: int) -> int:
        """When the call's recordings attach: `recording_attach_delay` after the call became visible."""
        return sk.visible_at_ms(i, self.delay_ms) + self.attach_delay_ms

    def recording_attached(self, sk: DaySkeleton, i: int, now_ms: int) -> bool:
        return now_ms >= self.recording_attached_at_ms(sk, i)

    def listed_recording(self, sk: DaySkeleton, i: int, now_ms: int) -> int:
        """The call-level recording kind as the API lists it at now_ms (REC_NONE until it attaches)."""
        return sk.recording[i] if self.recording_attached(sk, i, now_ms) else REC_NONE

    def _locate(self, n: int, now_ms: int) -> tuple[int, int] | None:
        if n < 0:
            return None
        day, i = divmod(n, INDEX_SPAN)
        if not day_of_ms(self.history_start_ms(now_ms)) <= day <= day_of_ms(now_ms):
            return None
        sk = self.skeleton(day)
        if i >= len(sk) or sk.visible_at_ms(i, self.delay_ms) > now_ms:
            return None
        if sk.start_ms(i) < self.history_start_ms(now_ms):
            return None  # past the call log's retention
        return day, i

    # ---- queries -----------------------------------------------------------------------------

    def iter_matches(
        self, from_ms: int, to_ms: int, now_ms: int, flt: CallFilter
    ) -> Iterator[tuple[DaySkeleton, int]]:
        """Visible calls with from <= startTime < to passing `flt`, newest first."""
        from_ms = max(from_ms, self.history_start_ms(now_ms))
        if to_ms <= from_ms:
            return
        last_day = min(day_of_ms(to_ms - 1), day_of_ms(now_ms))
        for day in range(last_day, day_of_ms(from_ms) - 1, -1):
            sk = self.skeleton(day)
            lo = bisect.bisect_left(sk.neg_start, -to_ms + 1)
            hi = bisect.bisect_right(sk.neg_start, -from_ms)
            for i in range(lo, hi):
                if sk.visible_at_ms(i, self.delay_ms) <= now_ms and flt.accepts(
                    sk, i, self.listed_recording(sk, i, now_ms)
                ):
                    yield sk, i

    def iter_became_visible(
        self, after_ms: int, now_ms: int, from_ms: int
    ) -> Iterator[tuple[DaySkeleton, int]]:
        """Calls that appeared or changed (a recording attached) in (after, now] and started at or after
        from_ms, newest first: an incremental sync reports the late recording as a change."""
        reach = MAX_CALL_SECONDS * 1000 + self.delay_ms + self.attach_delay_ms
        from_ms = max(from_ms, self.history_start_ms(now_ms))
        lowest = max(from_ms, after_ms - reach)  # no call started earlier can change in the window
        for day in range(day_of_ms(now_ms), day_of_ms(lowest) - 1, -1):
            sk = self.skeleton(day)
            lo = bisect.bisect_left(sk.neg_start, -now_ms)
            hi = bisect.bisect_right(sk.neg_start, -lowest)
            for i in range(lo, hi):
                vis = sk.visible_at_ms(i, self.delay_ms)
                attached = self.recording_attached_at_ms(sk, i)
                if after_ms < vis <= now_ms or (sk.has_recording_state(i) and after_ms < attached <= now_ms):
                    yield sk, i

    def iter_active(self, now_ms: int) -> Iterator[tuple[DaySkeleton, int]]:
        """Calls in progress right now, newest first."""
        today = day_of_ms(now_ms)
        for day in (today, today - 1):
            sk = self.skeleton(day)
            lo = bisect.bisect_left(sk.neg_start, -now_ms)
            for i in range(lo, len(sk)):
                if sk.start_ms(i) + sk.duration[i] * 1000 > now_ms:
                    yield sk, i

    def modified_at_ms(self, sk: DaySkeleton, i: int, now_ms: int) -> int:
        """The record's lastModifiedTime at now_ms (the Detailed view's; see render)."""
        if sk.has_recording_state(i) and self.recording_attached(sk, i, now_ms):
            return self.recording_attached_at_ms(sk, i)
        return sk.visible_at_ms(i, self.delay_ms)

    def iter_modified(self, after_ms: int, now_ms: int) -> list[tuple[int, DaySkeleton, int]]:
        """Visible calls whose current lastModifiedTime is in (after, now], as (modified, day, index)
        sorted by modification time (then id order): what extract-sync pages through."""
        found = [
            (self.modified_at_ms(sk, i, now_ms), sk, i)
            for sk, i in self.iter_became_visible(after_ms, now_ms, 0)
        ]
        found = [f for f in found if after_ms < f[0] <= now_ms]
        found.sort(key=lambda f: (f[0], f[1].day, f[2]))
        return found

    # ---- rendering ---------------------------------------------------------------------------

    def _party_ext(self, ext: Extension, with_phone: bool = True) -> dict:
        party = {"extensionNumber": ext.number, "extensionId": str(ext.id), "name": ext.name}
        if with_phone:
            party["phoneNumber"] = ext.direct_number
        return party

    @staticmethod
    def _party_external(rng: random.Random) -> dict:
        party = {
            "phoneNumber": f"+1{rng.choice((212, 303, 415, 512, 617, 650, 206))}555{rng.randrange(10_000):04d}",
            "location": rng.choice(CITIES),
        }
        if rng.random() < 0.5:
            party["name"] = (
                f"{rng.choice(('Acme', 'Globex', 'Initech', 'Umbrella'))} {rng.choice(('LLC', 'Inc'))}"
            )
        return party

    def recording_info(self, day: int, i: int, leg: bool = False) -> dict:
        rid = self.recording_id(day, i, leg)
        sk = self.skeleton(day)
        kind = sk.leg_recording[i] if leg else sk.recording[i]
        return {
            "uri": f"{self.base_url}/restapi/v1.0/account/{self.account_id}/recording/{rid}",
            "id": rid,
            "type": "Automatic" if kind == REC_AUTOMATIC else "OnDemand",
            "contentUri": f"{self.media_url}/restapi/v1.0/account/{self.account_id}/recording/{rid}/content",
        }

    def recording_format(self, ref: RecordingRef) -> tuple[str, int]:
        """(content type, size in bytes) of a recording, sized by its call's (or leg's) duration."""
        sk = self.skeleton(ref.day)
        i = ref.index
        seconds = sk.leg_duration[i] if ref.leg else sk.duration[i]
        if sk.wav[i]:
            return "audio/wav", media.wav_size_for(seconds)
        return "audio/mpeg", media.mp3_size_for(seconds)

    def render(self, day: int, i: int, view: str, extension_scope: int | None = None, *, now_ms: int) -> dict:
        """The call record as the API returns it at now_ms. `extension_scope` renders extension-level URIs.

        Records change after they are first listed: until `recording_attach_delay` has passed since
        the call became visible it has no recording (nor shortRecording, nor leg recordings) and an
        earlier lastModifiedTime.
        """
        sk = self.skeleton(day)
        attached = self.recording_attached(sk, i, now_ms)
        rng = random.Random(f"{self.seed}:call:{day}:{i}")
        sc = sk.scenario[i]
        name, _, ctype, direction = SCENARIOS[sc]
        owner = self.extensions[sk.owner[i]]
        start = sk.start_ms(i)
        duration = sk.duration[i]
        n = day * INDEX_SPAN + i
        call_id = self.call_id(day, i)
        ext_uri = f"{self.base_url}/restapi/v1.0/account/{self.account_id}/extension/{owner.id}"
        scope = f"/extension/{extension_scope}" if extension_scope is not None else ""
        external = self._party_external(rng)
        others = [e for e in self.extensions if e.calls and e.index != owner.index and e.type != "FaxUser"]
        partner = rng.choice(others) if others else owner
        digest = hashlib.sha1(f"{self.seed}:{n}".encode()).hexdigest()

        if direction == "Inbound":
            from_party, to_party = external, self._party_ext(owner)
            internal_type = "LocalNumber"
        elif name == "internal":
            from_party, to_party = self._party_ext(owner), self._party_ext(partner, with_phone=False)
            internal_type = "Usual"
        else:
            from_party, to_party = self._party_ext(owner), external
            internal_type = rng.choice(("Local", "LongDistance"))
        action, result, reason, master_leg = {
            "inbound_answered": ("Phone Call", "Accepted", "Accepted", "Accept"),
            "outbound_answered": (rng.choice(("VoIP Call", "RingOut PC")), "Call connected", "Connected", "SipToPstnMetered"),
            "inbound_missed": ("Phone Call", "Missed", "Not Answered", "Accept"),
            "inbound_voicemail": ("Phone Call", "Voicemail", "Not Answered", "Accept"),
            "inbound_transferred": ("Phone Call", "Accepted", "Accepted", "Accept"),
            "inbound_forwarded": ("Phone Call", "Accepted", "Accepted", "Accept"),
            "outbound_no_answer": ("VoIP Call", "No Answer", "No Answer", "SipToPstnMetered"),
            "fax_inbound": ("Incoming Fax", "Received", "Accepted", "Accept"),
            "fax_outbound": ("Outgoing Fax", "Sent", "Accepted", "FaxSent"),
            "internal": ("VoIP Call", "Call connected", "Connected", "ExtensionToExtension"),
        }[name]  # fmt: skip
        transport = "VoIP" if name == "internal" else "PSTN"
        cost = round(duration / 60 * 0.02, 2) if internal_type == "LongDistance" else 0.0
        billing = {"costIncluded": 0.0, "costPurchased": cost}
        record: dict = {
            "uri": f"{self.base_url}/restapi/v1.0/account/{self.account_id}{scope}/call-log/{call_id}?view={view}",
            "id": call_id,
            "sessionId": str(400_000_000_000 + n % 100_000_000_000),
            "telephonySessionId": f"s-a{digest[:30]}",
            "startTime": iso_ms(start),
            "duration": duration,
            "durationMs": duration * 1000 + rng.randrange(1000),
            "type": ctype,
            "internalType": internal_type,
            "direction": direction,
            "action": action,
            "result": result,
            "reason": reason,
            "from": from_party,
            "to": to_party,
            "extension": {"uri": ext_uri, "id": owner.id},
            "transport": transport,
        }
        if attached and sk.recording[i] in KEPT:
            record["recording"] = self.recording_info(day, i)
        elif attached and sk.recording[i] == REC_SHORT:
            record["shortRecording"] = True
        if view != "Detailed":
            return record
        rng.randint(1000, 15_000)  # drawn (unused) so the draws after it keep their values
        # Written when it became visible, and again when its recording attached: extract-sync orders
        # by this time, so a record is never listed with a modification time older than its arrival.
        modified = sk.visible_at_ms(i, self.delay_ms)
        if attached and sk.has_recording_state(i):
            modified = self.recording_attached_at_ms(sk, i)  # attaching the recording modified the record
        record["lastModifiedTime"] = iso_ms(modified)
        leg_recording = (
            {"recording": self.recording_info(day, i, leg=True)}
            if attached and sk.leg_recording[i] in KEPT
            else {}
        )
        record["billing"] = billing
        master = {k: v for k, v in record.items() if k not in ("uri", "id", "sessionId", "lastModifiedTime")}
        master.update(legType=master_leg, master=True)
        legs = [master]
        if name == "inbound_transferred":
            leg_duration = sk.leg_duration[i]
            legs.append(
                {
                    "startTime": iso_ms(start + (duration - leg_duration) * 1000),
                    "duration": leg_duration,
                    "durationMs": leg_duration * 1000,
                    "type": "Voice",
                    "internalType": "Usual",
                    "direction": "Outbound",
                    "action": "Transfer",
                    "result": "Accepted",
                    "reason": "Accepted",
                    "from": self._party_ext(owner),
                    "to": self._party_ext(partner, with_phone=False),
                    "extension": {
                        "uri": f"{self.base_url}/restapi/v1.0/account/{self.account_id}/extension/{partner.id}",
                        "id": partner.id,
                    },
                    "telephonySessionId": record["telephonySessionId"],
                    "transport": "VoIP",
                    "legType": "TransferCall",
                    "master": False,
                    **leg_recording,
                }
            )
        elif name == "inbound_forwarded":
            mobile = self._party_external(rng)
            legs.append(
                {
                    "startTime": iso_ms(start + 2000),
                    "duration": sk.leg_duration[i],
                    "durationMs": sk.leg_duration[i] * 1000,
                    "type": "Voice",
                    "internalType": "LocalNumber",
                    "direction": "Outbound",
                    "action": rng.choice(("FindMe", "FollowMe")),
                    "result": "Accepted",
                    "reason": "Accepted",
                    "from": self._party_ext(owner),
                    "to": {"phoneNumber": mobile["phoneNumber"], "location": mobile["location"]},
                    "extension": {"uri": ext_uri, "id": owner.id},
                    "telephonySessionId": record["telephonySessionId"],
                    "transport": "PSTN",
                    "legType": "FollowMe" if rng.random() < 0.5 else "FindMe",
                    "master": False,
                    "billing": {"costIncluded": 0.0, "costPurchased": 0.0},
                    **leg_recording,
                }
            )
        record["legs"] = legs
        return record

    def render_active(self, day: int, i: int, now_ms: int, extension_scope: int | None = None) -> dict:
        """An in-progress call as active-calls returns it."""
        record = self.render(day, i, "Simple", extension_scope, now_ms=now_ms)
        elapsed = max(0, (now_ms - self.skeleton(day).start_ms(i)) // 1000)
        record.update(duration=elapsed, durationMs=elapsed * 1000, result="In Progress")
        record.pop("reason", None)
        record.pop("recording", None)
        record.pop("shortRecording", None)
        return record

    def designated_large_recording(self, now_ms: int) -> tuple[int, int] | None:
        """The call whose recording becomes the oversized one: the newest kept recording before today."""
        today = day_of_ms(now_ms)
        for day in range(today - 1, self.first_day - 1, -1):
            sk = self.skeleton(day)
            for i in range(len(sk)):
                if self.listed_recording(sk, i, now_ms) in KEPT:
                    return day, i
        return None
