"""Property-based safety test of the purge at the source.

Random sequences of: damaging an archived file, changing a message at the source, placing or releasing
a legal hold, and purging (random types, mode, mailboxes) under injected faults (5xx, 429, dropped
connections) and crashes between batches. After every step, against an oracle that knows only what the
test did: nothing was deleted at the source unless, at that moment, it was archived, its day's files
intact, no hold covered it and the source still had the archived version; every deletion the simulator
applied is named by the audit trail, and the trail verifies.

`HYPOTHESIS_PROFILE=long` runs many more sequences (`make bench` style, not in `make test`).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from rc_pipeline.control import audit
from rc_pipeline.control.holds import active_holds, add_hold, release_hold
from rc_pipeline.control.inventory import MESSAGE_KINDS, RECORDING
from rc_pipeline.control.purge import PurgeRequest, execute_purge, plan_purge
from rc_pipeline.ringcentral import DEFAULT_LIMITS, RetryPolicy, RingCentralError, Throttler
from rc_pipeline.storage import ArchiveStorage, Dataset
from rc_pipeline_tests.controlhelpers import archive_one_day, client_for, dangerous_requests, source_messages

settings.register_profile("default", max_examples=200, stateful_step_count=6, deadline=None)
settings.register_profile("long", max_examples=1000, stateful_step_count=10, deadline=None)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
COUNTS = {"sequences": 0, "steps": 0, "purges": 0, "deleted": 0, "crashes": 0}


class Crash(RuntimeError):
    """The process dies between two batches."""


@dataclass
class World:
    """The archived day every sequence starts from, and the simulator it came from."""

    sim: Any
    base: Path
    day: date
    messages: list[dict]  # archived rows: id, extension_id, type, path(s)
    attachments: list[dict]
    recordings: list[dict]
    recording_owner: dict[str, set[int]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    from rc_pipeline.simulator import FaultConfig, SimulatorConfig, start_simulator

    sim = start_simulator(
        # No throttling (hundreds of purges must fit in a couple of minutes). Without announced limits
        # the client keeps to RingCentral's real 10 Heavy requests a minute, so the day has few calls.
        SimulatorConfig(
            extensions=6, days=3, calls_per_day=14, messages_per_day=3, throttling=False, faults=FaultConfig()
        )
    )
    base = tmp_path_factory.mktemp("safety") / "archive"
    archived = archive_one_day(sim, str(base), calls=True)
    storage, day = archived.storage, archived.day
    # The oracle's own notion of who a recording concerns: every mailbox on the call or any leg of it.
    parties: dict[str, set[int]] = {}
    for row in storage.read_parquet(Dataset.CALLS, day).to_pylist():
        parties.setdefault(row["id"], set()).add(row["extension_id"])
    for row in storage.read_parquet(Dataset.CALL_LEGS, day).to_pylist():
        parties.setdefault(row["call_id"], set()).add(row["extension_id"])
    recordings = [
        r for r in storage.read_parquet(Dataset.RECORDINGS, day).to_pylist() if r["status"] == "verified"
    ]
    owner = {r["recording_id"]: parties.get(r["call_id"], set()) - {None} for r in recordings}
    yield World(
        sim=sim,
        base=base,
        day=day,
        messages=storage.read_parquet(Dataset.MESSAGES, day).to_pylist(),
        attachments=[
            r for r in storage.read_parquet(Dataset.MESSAGE_ATTACHMENTS, day).to_pylist() if r["path"]
        ],
        recordings=recordings,
        recording_owner=owner,
    )
    sim.stop()
    print(f"\nsafety property: {COUNTS}")


class CrashingClient:
    """The real client, dying after a number of delete requests (None: never)."""

    def __init__(self, client: Any, crash_after: int | None) -> None:
        self._client, self._left = client, crash_after

    def _maybe_crash(self) -> None:
        if self._left is not None:
            if self._left == 0:
                COUNTS["crashes"] += 1
                raise Crash("killed between batches")
            self._left -= 1

    def delete_messages(self, *args: Any, **kwargs: Any) -> Any:
        self._maybe_crash()
        return self._client.delete_messages(*args, **kwargs)

    def delete_recordings(self, *args: Any, **kwargs: Any) -> Any:
        self._maybe_crash()
        return self._client.delete_recordings(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def make_machine(world: World) -> type[RuleBasedStateMachine]:
    message_ids = [str(m["id"]) for m in world.messages]
    extensions = sorted(
        {m["extension_id"] for m in world.messages}
        | {e for parties in world.recording_owner.values() for e in parties}
    )

    class Purging(RuleBasedStateMachine):
        @initialize()
        def fresh_world(self) -> None:
            COUNTS["sequences"] += 1
            # The archive's manifests name their files by absolute path, so sequences share the one
            # archive: each puts back the bytes it damaged and drops its holds and audit trail.
            self.storage = ArchiveStorage(str(world.base))
            self.originals: dict[Path, bytes] = {}
            world.sim.account.reset_changes()
            world.sim.faults.clear()
            world.sim.request_log.clear()
            # Quick retries, no client-side budget: the faults are the point here, not RingCentral's
            # real backoff or limits (the simulator does not throttle in this test).
            self.client = client_for(
                world.sim,
                retry=RetryPolicy(base_delay=0.02, max_delay=0.1),
                throttler=Throttler(limits={g: (100_000, 1.0) for g in DEFAULT_LIMITS}),
            )
            # What the oracle knows: only what this sequence did.
            self.damaged_message_day = False
            self.damaged_call_day = False
            self.changed: set[str] = set()
            self.holds: dict[str, dict] = {}
            self.before = {k: v["availability"] for k, v in source_messages(world.sim, world.day).items()}

        def teardown(self) -> None:
            self.client.close()
            for path, data in self.originals.items():
                path.write_bytes(data)
            shutil.rmtree(world.base / "control", ignore_errors=True)

        # ------------------------------------------------------------------ what the world does
        @rule(
            n=st.integers(min_value=0, max_value=10_000),
            what=st.sampled_from(["attachment", "recording", "raw"]),
        )
        def damage_a_file(self, n: int, what: str) -> None:
            COUNTS["steps"] += 1
            recording = what == "recording"
            if what == "raw":
                path = Path(self.storage.raw_pages_path(world.day, Dataset.RAW_MESSAGE_STORE))
            else:
                rows = world.recordings if recording else world.attachments
                if not rows:
                    return
                path = Path(rows[n % len(rows)]["path"])
            self.originals.setdefault(path, path.read_bytes())
            data = bytearray(path.read_bytes())
            # Differs from the original byte however often the same spot is hit (two XORs would undo).
            data[n % len(data)] = self.originals[path][n % len(data)] ^ 0x5A
            path.write_bytes(bytes(data))
            if recording:
                self.damaged_call_day = True
            else:
                self.damaged_message_day = True

        @rule(n=st.integers(min_value=0, max_value=10_000))
        def change_a_message_at_the_source(self, n: int) -> None:
            COUNTS["steps"] += 1
            row = world.messages[n % len(world.messages)]
            live = source_messages(world.sim, world.day)[str(row["id"])]
            if live["availability"] == "Purged":
                return
            status = "Unread" if live["readStatus"] == "Read" else "Read"
            # Counted as changed before the request: if it fails midway the oracle stays on the safe side.
            self.changed.add(str(row["id"]))
            self.client.update_read_status(row["extension_id"], [row["id"]], status)

        @rule(
            ext=st.sampled_from([None, *extensions]),
            kinds=st.lists(st.sampled_from([*MESSAGE_KINDS, RECORDING]), max_size=2, unique=True),
            covers_day=st.booleans(),
        )
        def place_a_hold(self, ext: int | None, kinds: list[str], covers_day: bool) -> None:
            COUNTS["steps"] += 1
            day = world.day if covers_day else date(2000, 1, 1)
            hold = add_hold(
                self.storage,
                reason="matter",
                operator="t",
                extensions=[ext] if ext else [],
                start=day,
                end=day,
                types=kinds,
            )
            self.holds[hold.id] = {"ext": ext, "kinds": set(kinds), "covers_day": covers_day}

        @rule(n=st.integers(min_value=0, max_value=100))
        def release_a_hold(self, n: int) -> None:
            COUNTS["steps"] += 1
            if self.holds:
                hold_id = sorted(self.holds)[n % len(self.holds)]
                release_hold(self.storage, hold_id, reason="done", operator="t")
                del self.holds[hold_id]

        # ------------------------------------------------------------------ the dangerous part
        def _held(self, kind: str, ext: int | None) -> bool:
            return any(
                h["covers_day"]
                and (h["ext"] is None or h["ext"] == ext or ext is None)
                and (not h["kinds"] or kind in h["kinds"])
                for h in self.holds.values()
            )

        def _safe_messages(self) -> set[str]:
            if self.damaged_message_day:
                return set()
            return {
                str(m["id"])
                for m in world.messages
                if str(m["id"]) not in self.changed and not self._held(m["type"], m["extension_id"])
            }

        def _safe_recordings(self) -> set[str]:
            if self.damaged_call_day:
                return set()
            return {
                r["recording_id"]
                for r in world.recordings
                if not any(
                    self._held(RECORDING, e) for e in world.recording_owner[r["recording_id"]] or {None}
                )
            }

        @rule(
            kinds=st.lists(st.sampled_from([*MESSAGE_KINDS, RECORDING]), min_size=1, max_size=5, unique=True),
            mode=st.sampled_from(["trash", "purge"]),
            only=st.sampled_from([None, *extensions]),
            crash_after=st.sampled_from([None, None, 0, 1, 3]),
            fault=st.sampled_from([None, "500", "503", "429", "drop"]),
            fault_on=st.sampled_from(["/message-store/", "/call-recordings"]),
        )
        def purge(
            self,
            kinds: list[str],
            mode: str,
            only: int | None,
            crash_after: int | None,
            fault: str | None,
            fault_on: str,
        ) -> None:
            COUNTS["steps"] += 1
            COUNTS["purges"] += 1
            safe_messages, safe_recordings = self._safe_messages(), self._safe_recordings()
            before_messages = {k: v["availability"] for k, v in source_messages(world.sim, world.day).items()}
            before_recordings = {
                r["recording_id"]
                for r in world.recordings
                if world.sim.account.recording_deleted(r["recording_id"])
            }
            if fault:
                world.sim.faults.schedule(fault, count=1, path_contains=fault_on, retry_after=0.2)
            request = PurgeRequest(
                start=world.day,
                end=world.day,
                timezone="UTC",
                kinds=tuple(kinds),
                extensions=(only,) if only else (),
                mode=mode,
            )
            try:
                plan = plan_purge(self.storage, self.client, request)
                execute_purge(self.storage, CrashingClient(self.client, crash_after), plan, operator="t")
            except (Crash, RingCentralError):
                pass  # a crash, or a fault the client gave up on: what was done must still be safe
            finally:
                world.sim.faults.clear()  # a fault the purge never reached must not hit the next step
            after = source_messages(world.sim, world.day)
            newly = {k for k, v in after.items() if v["availability"] != before_messages.get(k)}
            assert newly <= safe_messages, f"deleted unsafe messages: {sorted(newly - safe_messages)}"
            assert newly <= set(message_ids)
            gone = {
                r["recording_id"]
                for r in world.recordings
                if world.sim.account.recording_deleted(r["recording_id"])
            }
            assert gone - before_recordings <= safe_recordings, (
                f"deleted unsafe recordings: {sorted(gone - before_recordings - safe_recordings)}"
            )
            COUNTS["deleted"] += len(newly) + len(gone - before_recordings)
            # In trash mode nothing is purged outright, even when a lost connection hid the answer.
            if mode == "trash":
                assert not [
                    k
                    for k in newly
                    if after[k]["availability"] == "Purged" and before_messages.get(k) == "Alive"
                ]

        @invariant()
        def the_trail_verifies_and_names_every_deletion(self) -> None:
            if not hasattr(self, "storage"):
                return
            verdict = audit.verify(self.storage)
            assert verdict.ok, verdict.problem
            intents = {
                i for e in audit.read_entries(self.storage) if e.action == "delete_intent" for i in e.ids
            }
            changed = {
                k
                for k, v in source_messages(world.sim, world.day).items()
                if v["availability"] != self.before.get(k)
            }
            assert changed <= intents, f"deleted without an audit entry: {sorted(changed - intents)}"
            deleted_recordings = {
                r["recording_id"]
                for r in world.recordings
                if world.sim.account.recording_deleted(r["recording_id"])
            }
            assert deleted_recordings <= intents
            assert dangerous_requests(world.sim) == []
            assert (
                world.sim.request_log.filter_deletes() == []
                and world.sim.request_log.empty_id_deletes() == []
            )
            assert {h.id for h in active_holds(self.storage)} == set(self.holds)

    return Purging


@pytest.mark.timeout(1800)
def test_purge_never_deletes_what_it_must_not(world):
    machine = make_machine(world)
    run_state_machine_as_test(
        machine,
        settings=settings(PROFILE, suppress_health_check=list(HealthCheck), print_blob=True),
    )
    assert COUNTS["sequences"] >= min(PROFILE.max_examples, 50) and COUNTS["purges"] > 0
