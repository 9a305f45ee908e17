"""Token layouts: what the processor produces for one sample, run (``inspect``) or predicted (``plan``).

Pure arithmetic of grids, frames and audio tokens (``arith``), the shared settings, the
``TokenLayout`` type and its report, labels on the expanded ids, real-time alignment and rope
positions, and dataset budgets. Builds on :mod:`omni_bench.core` only.
"""
