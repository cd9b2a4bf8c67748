"""The benchmarks (`make bench`): drivers run as scripts, and what they share (bench.common).

A package so that mypy names bench/analytics.py `bench.analytics`, apart from the analytics app.
"""
