"""rc-pipeline benchmarks (`make bench`, `python -m bench`): see bench/__main__.py and the README."""
