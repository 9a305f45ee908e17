"""The core: what every other layer stands on, in two floors.

The bottom floor imports nothing else of the project: the one error type (``errors``) and problem
record (``problems``), number checks (``numbers``), the processors' pure arithmetic (``arith``:
grids, frame counts, audio tokens, chunks; scalars or arrays), the checkpoints' real settings
(``profiles``, Qwen3's among them), the structural token ids (``tokens``), media probing and
decoding (``media``, ``packets``), stage lines (``stages``), the chat template's renderer
(``chat_template``), the report page writer (``pages``) and the machine description (``machine``).

The model families (:mod:`omni_bench.families`) stand on that floor; the builders stand on the
families: the processor built offline (``processor``), the light planner's processor (``light``)
and the tiny models (``models``) ask a profile's family for its classes and rules. Nothing in
the core knows about token layouts, training data or training, and it never imports the views.
``tests/test_import_graph.py`` keeps the order (no import circle in the package).
"""
