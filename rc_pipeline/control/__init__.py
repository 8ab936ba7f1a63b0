"""Control at the source, without Dagster: audit trail, legal holds, retention settings, purge,
restore, erasure and read status. Everything that changes data at RingCentral lives here, and all of
it deletes by explicit ids only, re-verifies the archive at that moment, respects holds, defaults to
a dry run and is audited."""
