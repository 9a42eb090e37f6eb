"""Model builders shared by tests, benchmarks and training (tiny random audio-language models).

Heavy imports (torch, transformers) live in the submodules; importing this package is cheap.
"""
