"""Benchmark harness for datapruner and ragprune: ``python -m eval SUITE ...`` from the repo root."""
