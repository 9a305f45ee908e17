"""Benchmarks measured side by side in one run: loss backends, training steps, decode cost."""
