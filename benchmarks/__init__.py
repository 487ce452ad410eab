"""Benchmarks (`make bench` → `python -m benchmarks`): figures and ratios, printed; never asserted in tests."""
