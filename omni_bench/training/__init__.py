"""Training: the fused linear cross-entropy, its wiring into the models, and the LoRA run loop.

Builds on :mod:`omni_bench.data`, :mod:`omni_bench.layout`, :mod:`omni_bench.families` and
:mod:`omni_bench.core`; it returns data (metrics rows, a run record) and never imports the views:
a run's plots and its report's figures are drawn by what the caller hands in
(``train(config, plot=...)``, ``write_run_report(..., figures=...)``; ``omni-bench`` passes
``omni_bench_widgets``'). Evaluation (:mod:`omni_bench.eval`) sits on the same floor.
"""
