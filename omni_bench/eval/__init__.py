"""Evaluation on LongVALE's tasks: answers parsed and scored exactly as LongVALE's metric code does.

``answers`` (spans and events read from answers), ``grounding``, ``dense`` (with ``soda``)
and ``segments`` (the three tasks' rules), ``coco`` (pycocoevalcap's scorers), ``log`` (the
annotation and answer-log files) and ``score`` (:func:`omni_bench.score`). The scoring modules
build on :mod:`omni_bench.core` only; generation (:func:`omni_bench.evaluate`) also uses
:mod:`omni_bench.layout`, :mod:`omni_bench.data` and :mod:`omni_bench.training` (the trained
model), and a run's report (:mod:`omni_bench.training.run_report`) scores an answer log with
``score``: training and evaluation are one floor, with no import circle between their modules.
"""
