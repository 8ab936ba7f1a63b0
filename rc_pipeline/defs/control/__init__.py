"""Control at the source: retention, legal holds, purge."""
