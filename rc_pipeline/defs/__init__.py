"""Dagster definitions, one folder per domain (assets.py, checks.py, automation.py, definitions.py).

Thin on purpose: assets call the domain packages (rc_pipeline.calls, rc_pipeline.message_store, ...)
through the resources in resources.py; names.py holds every key and job name.
"""
