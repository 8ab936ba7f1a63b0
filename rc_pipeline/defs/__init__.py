"""Dagster definitions for the archive. Thin: assets call the client and storage; resources wrap them."""
