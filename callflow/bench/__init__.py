"""Benchmarks run from `callflow bench`: each kind simulates and scores a feature."""
