"""Benchmarks double as smoke tests: ``pytest benchmarks --benchmark-disable`` runs each body once."""
