"""Benchmarks that need a GPU; results under bench/results/."""
