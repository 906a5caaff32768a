"""Benchmarks: each runs this plugin and a baseline in one process and prints the ratio."""
