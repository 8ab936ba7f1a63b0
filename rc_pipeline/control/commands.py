"""`rc-pipeline hold|purge|restore|audit`: the command lines of control at the source.

Settings come from rc_pipeline.settings (the same declarations as the pipeline); the operator the audit
trail records is --operator, else RC_OPERATOR, else the OS account. Nothing changes at RingCentral
without --execute.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date

from rc_pipeline.control import audit, legal_hold
from rc_pipeline.control.cli_support import account_client, add_operator_argument, archive, operator_of
from rc_pipeline.control.holds import HOLD_TYPES, load_holds
from rc_pipeline.control.inventory import MESSAGE_KINDS, RECORDING
from rc_pipeline.control.purge import PurgeRequest, execute_purge, plan_purge, restore, trashed_by
from rc_pipeline.settings import PipelineSettings


def _ints(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of extension ids") from None


def _kinds(text: str) -> list[str]:
    kinds = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(kinds) - set(HOLD_TYPES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown type(s) {', '.join(unknown)}; use {', '.join(HOLD_TYPES)}")
    return kinds


# ------------------------------------------------------------------------------------------ hold


def hold_command(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="rc-pipeline hold", description="Legal holds: nothing they cover "
                                     "is deleted at the source or erased from the archive.")  # fmt: skip
    sub = parser.add_subparsers(dest="action", required=True)
    add = sub.add_parser("add", help="place a hold")
    add.add_argument("--reason", required=True, help="the matter, case or request the hold serves")
    add.add_argument("--extension", type=int, action="append", default=[], help="extension id (repeatable)")
    add.add_argument("--start", type=date.fromisoformat, help="first day covered (default: open)")
    add.add_argument("--end", type=date.fromisoformat, help="last day covered (default: open)")
    add.add_argument(
        "--types", type=_kinds, default=[], help=f"comma-separated: {','.join(HOLD_TYPES)} (default all)"
    )
    add_operator_argument(add)
    sub.add_parser("list", help="every hold, released ones too")
    release = sub.add_parser("release", help="release a hold (it stays on record, marked released)")
    release.add_argument("hold_id")
    release.add_argument("--reason", required=True, help="why the hold ends")
    add_operator_argument(release)
    sync = sub.add_parser(
        "sync", help="WORM archives: set the S3 legal hold on every object an active hold covers"
    )
    add_operator_argument(sync)
    args = parser.parse_args(list(argv))
    storage = archive()
    if args.action == "add":
        hold, change = legal_hold.place(
            storage,
            reason=args.reason,
            operator=operator_of(args),
            extensions=args.extension,
            start=args.start,
            end=args.end,
            types=args.types,
        )
        print(f"placed {hold.describe()}")
    elif args.action == "release":
        hold, change = legal_hold.release(
            storage, args.hold_id, reason=args.reason, operator=operator_of(args)
        )
        print(f"released {hold.describe()}")
    elif args.action == "sync":
        change = legal_hold.sync(storage, operator=operator_of(args))
    else:
        holds = load_holds(storage)
        print("\n".join(h.describe() for h in holds) if holds else "no holds")
        return 0
    if storage.worm is not None:
        print(change.describe())
    return 1 if change.failed else 0


# ----------------------------------------------------------------------------------------- purge


def purge_command(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rc-pipeline purge",
        description="Delete at RingCentral what the archive provably holds, by explicit ids only. Without "
        "--execute, only print the plan: per day and type, items archived and verified, at the source, to "
        "delete, blocked (with reasons) and not archived.",
    )
    parser.add_argument("--start", type=date.fromisoformat, required=True, help="first day, YYYY-MM-DD")
    parser.add_argument("--end", type=date.fromisoformat, required=True, help="last day, YYYY-MM-DD")
    parser.add_argument(
        "--types", type=_kinds, help=f"comma-separated: {','.join(HOLD_TYPES)} (default: every message type)"
    )
    parser.add_argument(
        "--extensions", type=_ints, default=[], help="comma-separated extension ids (default all)"
    )
    parser.add_argument("--recordings", action="store_true", help="delete verified call recordings too")
    parser.add_argument(
        "--mode", choices=("trash", "purge"), default="trash",
        help="trash: messages move to Deleted and can be restored (default); purge: gone at once",
    )  # fmt: skip
    parser.add_argument("--execute", action="store_true", help="delete; without it nothing changes")
    add_operator_argument(parser)
    args = parser.parse_args(list(argv))
    kinds = list(args.types or MESSAGE_KINDS) + ([RECORDING] if args.recordings else [])
    request = PurgeRequest(
        start=args.start,
        end=args.end,
        timezone=PipelineSettings.from_env().timezone,
        kinds=tuple(dict.fromkeys(kinds)),
        extensions=tuple(args.extensions),
        mode=args.mode,
    )
    with account_client() as client:
        storage = archive()
        plan = plan_purge(storage, client, request)
        print(plan.format())
        if not args.execute:
            print(f"\nDry run: nothing was deleted. {len(plan.deletable)} item(s) would be; add --execute.")
            return 0
        if not plan.deletable:
            print("\nNothing to delete.")
            return 0
        result = execute_purge(storage, client, plan, operator=operator_of(args), progress=_stderr)
    print(f"\n{result.summary()}")
    for item in result.skipped:
        print(f"  skipped {item.kind} {item.id}: {'; '.join(item.reasons)}")
    for item, why in result.failed:
        print(f"  failed {item.kind} {item.id}: {why}")
    return 1 if result.failed else 0


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


def restore_command(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rc-pipeline restore",
        description="Bring back from RingCentral's trash (Deleted -> Alive) the messages a purge in trash "
        "mode moved there, as named by its audit entry (`rc-pipeline audit list`).",
    )
    parser.add_argument("audit_entry", type=int, help="sequence number of the purge's delete_outcome entry")
    parser.add_argument("--execute", action="store_true", help="restore; without it only list what would be")
    add_operator_argument(parser)
    args = parser.parse_args(list(argv))
    if not args.execute:
        for extension, ids in trashed_by(archive(), args.audit_entry).items():
            print(f"extension {extension}: {len(ids)} message(s) would be restored: {', '.join(ids)}")
        print("Dry run: nothing was restored; add --execute.")
        return 0
    with account_client() as client:
        storage = archive()
        outcomes = restore(storage, client, args.audit_entry, operator=operator_of(args))
    for message_id, outcome in outcomes.items():
        print(f"{message_id}: {outcome}")
    return 0 if all(o == "restored" for o in outcomes.values()) else 1


# ----------------------------------------------------------------------------------------- audit


def audit_command(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="rc-pipeline audit", description="The audit trail of every change "
                                     "at the source and every erasure in the archive.")  # fmt: skip
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser(
        "verify", help="recompute the hash chain; name the first entry edited, removed or reordered"
    )
    sub.add_parser("list", help="one line per entry")
    args = parser.parse_args(list(argv))
    storage = archive()
    if args.action == "verify":
        verdict = audit.verify(storage)
        if verdict.ok:
            print(f"audit trail intact: {verdict.entries} entries, hash chain verified")
            return 0
        print(f"AUDIT TRAIL BROKEN: {verdict.problem}", file=sys.stderr)
        return 1
    for entry in audit.read_entries(storage):
        outcomes: dict[str, int] = {}
        for item in entry.items:
            key = str(item.get("outcome", "-")).split(":")[0]
            outcomes[key] = outcomes.get(key, 0) + 1
        print(
            f"{entry.seq:>6}  {entry.time[:19]}  {entry.operator:<12}  {entry.command:<13} {entry.action:<16} "
            f"{len(entry.items)} item(s) {outcomes if entry.items else ''}"
        )
    return 0


# -------------------------------------------------------------- retention, read status, erasure
def retention_command(argv: Sequence[str]) -> int:
    from rc_pipeline.control.retention import retention_command as run

    return run(list(argv))


def messages_command(argv: Sequence[str]) -> int:
    from rc_pipeline.control.read_status import messages_command as run

    return run(list(argv))


def erase_command(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="rc-pipeline erase",
        description="Erase one person (GDPR): purge the extension's messages at RingCentral by ids and "
        "remove them from the archive too (typed rows, attachment files, records inside raw pages and "
        "export zips, with manifests and checksums updated so `rc-pipeline verify` passes). Blocked by "
        "legal holds, and refused on an archive whose objects are under S3 Object Lock (records retention "
        "overrides erasure). Without --execute only the plan is printed.",
    )
    parser.add_argument("--extension", type=int, required=True, help="the extension (mailbox) id to erase")
    parser.add_argument("--execute", action="store_true", help="erase; without it nothing changes")
    add_operator_argument(parser)
    args = parser.parse_args(list(argv))
    from rc_pipeline.control.erase import execute_erasure, plan_erasure
    from rc_pipeline.settings import MessageStoreSettings

    timezone = PipelineSettings.from_env().timezone
    limits = MessageStoreSettings.from_env().zip_limits
    with account_client() as client:
        storage = archive()
        plan = plan_erasure(storage, client, args.extension, tz=timezone, limits=limits, progress=_stderr)
        print(plan.describe())
        if not args.execute:
            print("\nDry run: nothing was deleted or rewritten; add --execute.")
            return 0
        result = execute_erasure(
            storage, client, plan, operator=operator_of(args), progress=_stderr, limits=limits
        )
    print(result.describe())
    return 0 if result.ok else 1
