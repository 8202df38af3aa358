"""Benchmarks for fleep-async: ``python -m benchmarks.<name>`` (see each module's docstring)."""
