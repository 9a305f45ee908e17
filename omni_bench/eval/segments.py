"""Segment captioning as LongVALE scores it: BLEU-4, METEOR, ROUGE-L and CIDEr over all answers.

Each answer (the whole text, not parsed) is paired with the caption of the event it was
asked about (``info.sentence_id``); both are PTB-tokenized (lower case, punctuation tokens
removed) and scored as one corpus with pycocoevalcap: corpus BLEU-4, METEOR's corpus score,
mean ROUGE-L and CIDEr-D with document frequencies from these references.

LongVALE pairs the i-th answer of the log with the i-th caption of the annotation file
(videos in file order, all their events); that is the pairing by ``sentence_id`` used here
whenever the log holds every event of its videos in that order, which is how LongVALE's
``eval.py`` (and ``omni-bench eval run``) write it. For any other log LongVALE's pairing is
wrong or fails; this module's is not.

Left out: BLEU-1..3 (LongVALE computes, does not report them), SPICE.
"""

from __future__ import annotations

from collections.abc import Sequence

from omni_bench.eval.coco import bleu4, cider, meteor, ptb_tokenize, rouge_l

__all__ = ["segment_scores"]


def segment_scores(answers: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """``BLEU4``, ``METEOR``, ``ROUGE_L``, ``CIDEr`` (fractions) of answers against their references.

    ``answers[i]`` is scored against ``references[i]`` (one reference each).
    """
    if not answers:
        return {}
    hyps = ptb_tokenize({i: [text] for i, text in enumerate(answers)})
    refs = ptb_tokenize({i: [text] for i, text in enumerate(references)})
    return {"BLEU4": bleu4(refs, hyps), "METEOR": float(meteor(refs, hyps)[0]),
            "ROUGE_L": rouge_l(refs, hyps), "CIDEr": cider(refs, hyps)[0]}
