"""Prompts, rubric parsing and (later) decomposition."""
