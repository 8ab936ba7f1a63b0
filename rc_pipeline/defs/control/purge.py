"""`purge_source`: the purge at the source as a Dagster job, configured per run (dry run by default)."""

from datetime import date

import dagster as dg

from rc_pipeline.control.inventory import MESSAGE_KINDS, RECORDING
from rc_pipeline.control.purge import PurgeRequest, execute_purge, plan_purge
from rc_pipeline.settings import read

from ..names import API_POOL, PURGE_JOB
from ..resources import ArchiveResource, RingCentralResource


class PurgeConfig(dg.Config):
    """What to purge. Nothing changes at RingCentral unless `execute` is true."""

    start: str
    end: str
    types: list[str] = list(MESSAGE_KINDS)
    extensions: list[int] = []
    recordings: bool = False
    mode: str = "trash"
    execute: bool = False
    operator: str | None = None


def build_purge_job(timezone: str) -> dg.JobDefinition:
    @dg.op(
        pool=API_POOL,
        description="Plan the purge (per day and type: archived and verified, at the source, to delete, "
        "blocked with reasons); with `execute`, delete by explicit ids, re-checking each batch at that moment.",
    )
    def purge_at_source(
        context: dg.OpExecutionContext,
        config: PurgeConfig,
        ringcentral: RingCentralResource,
        archive: ArchiveResource,
    ) -> dg.Output[dict]:
        request = PurgeRequest(
            start=date.fromisoformat(config.start),
            end=date.fromisoformat(config.end),
            timezone=timezone,
            kinds=tuple(dict.fromkeys([*config.types, *([RECORDING] if config.recordings else [])])),
            extensions=tuple(config.extensions),
            mode=config.mode,
        )
        storage, client = archive.storage(), ringcentral.get_client()
        plan = plan_purge(storage, client, request)
        context.log.info("purge plan:\n" + plan.format())
        summary: dict = {"dry_run": not config.execute, "to_delete": len(plan.deletable)}
        metadata: dict = {
            "plan": dg.MetadataValue.md(f"```\n{plan.format()}\n```"),
            "to_delete": dg.MetadataValue.int(len(plan.deletable)),
            "blocked": dg.MetadataValue.int(sum(1 for i in plan.items if i.blocked)),
            "dry_run": not config.execute,
        }
        if config.execute and plan.deletable:
            operator = config.operator or read("RC_OPERATOR") or f"dagster run {context.run_id}"
            result = execute_purge(storage, client, plan, operator=operator, progress=context.log.info)
            summary.update(
                deleted=len(result.deleted), skipped=len(result.skipped), failed=len(result.failed)
            )
            metadata.update(
                deleted=dg.MetadataValue.int(len(result.deleted)),
                skipped_at_deletion=dg.MetadataValue.int(len(result.skipped)),
                failed=dg.MetadataValue.int(len(result.failed)),
                audit_entries=dg.MetadataValue.json(result.audit_entries),
            )
            if result.failed:
                raise dg.Failure(description=result.summary(), metadata=metadata)
        return dg.Output(summary, metadata=metadata)

    @dg.job(
        name=PURGE_JOB,
        description="Delete at RingCentral what the archive provably holds, by explicit ids only. Dry run "
        "unless the run config says execute: true; every deletion is audited (rc-pipeline audit list).",
    )
    def purge_source() -> None:
        purge_at_source()

    return purge_source
