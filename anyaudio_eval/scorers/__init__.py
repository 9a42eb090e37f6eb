"""Scorers and metrics."""

from anyaudio_eval.scorers.bench_scorer import bench_alignment, bench_metrics

__all__ = ["bench_alignment", "bench_metrics"]
