"""The message store, without Dagster: export tasks and their state, fetching (export or listing) into
the raw layer, and reading that raw layer back as message records."""
