"""Training data: annotation records, multi-turn samples cut to a budget, validation, the torch dataset.

Builds on :mod:`omni_bench.layout` (exact token counts), :mod:`omni_bench.families` (packing asks a
sample's family for its rope positions) and :mod:`omni_bench.core`; never on training, evaluation or the
views.
"""
