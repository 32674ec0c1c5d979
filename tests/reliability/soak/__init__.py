"""Soak and crash runs through the real function binaries on the local stack (moto behind the
fault proxy). `python -m tests.reliability.soak --size full` (make soak) prints a table per
function; tests/reliability/test_soak.py runs the short sizes under make test."""
