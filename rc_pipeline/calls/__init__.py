"""The call side, without Dagster: the call log's typed tables written from raw pages, and recordings
fetched and verified."""
