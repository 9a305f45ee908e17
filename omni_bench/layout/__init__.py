"""Token layouts: what the processor produces for one sample, run (``inspect``) or predicted (``plan``).

The shared settings (``settings``), the ``TokenLayout`` type and its report (``token_layout``),
labels on the expanded ids (``labels``), frame choice and size (``frames``), the processor call
(``processor_call``), the planner (``plan``), real-time alignment and its checked fix
(``alignment``, ``alignment_fix``), the report's findings (``verdict``) and page
(``report_html``), and dataset budgets (``budget``, ``budget_packing``, ``cost``).

It stands on :mod:`omni_bench.core` (the arithmetic is :mod:`omni_bench.core.arith`;
``layout.arith`` is its old name) and on :mod:`omni_bench.families`, whose modules hold every
per-family rule: the layout layer asks a profile's family (``family_of(profile)``) for its
processor keywords, sizes, audio tokens, VIDEO/AUDIO runs, alignment report and rope, and never
switches on a family's name. Qwen2.5's chunk alignment and TMRoPE live in
:mod:`omni_bench.families.qwen2_5_alignment`, Qwen2.5-VL's rope in
:mod:`omni_bench.families.qwen2_5_vl` (``layout.rope`` re-exports it); this layer adds what needs
planning (the checked fix's search). It never imports the data, training or view layers.
"""
