"""Fuzzing: shared checks (targets.py), the atheris harness and tools; see README.md."""
