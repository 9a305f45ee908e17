"""Training data: annotation records, multi-turn samples cut to a budget, validation, the torch dataset.

Builds on :mod:`omni_bench.layout` (exact token counts) and :mod:`omni_bench.core`.
"""
