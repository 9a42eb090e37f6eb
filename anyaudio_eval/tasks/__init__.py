"""Inspect tasks."""
