"""rc-pipeline: archive RingCentral communications data with Dagster before retention deletes it."""

__version__ = "0.1.0"
