"""The captioning scorers of the field, from pycocoevalcap: PTB tokenizer, BLEU, METEOR, ROUGE-L, CIDEr(-D).

These are the exact scorers LongVALE's metric code calls (pycocoevalcap 1.2). The PTB
tokenizer (Stanford CoreNLP 3.4.1) and METEOR 1.5 are Java programs shipped inside the
wheel, so both need a ``java`` on ``PATH``; without one, or without the package, every
function here raises one :class:`~omni_bench.core.errors.OmniBenchError` line saying so.

One METEOR process is started per Python process (it loads a paraphrase table, ~10 s on a
small CPU) and reused. pycocoevalcap's own chatter (BLEU's statistics on stdout, the
tokenizer's "tokenized N tokens" on stderr) is kept off the terminal.

Left out: SPICE (LongVALE does not report it) and BERTScore.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import shutil
import sys
from collections.abc import Mapping, Sequence

from omni_bench.core.errors import OmniBenchError

__all__ = ["require_scorers", "ptb_tokenize", "meteor", "meteor_scorer", "cider", "bleu4", "rouge_l"]

_NO_JAVA = ("java not found on PATH: METEOR and the PTB tokenizer of pycocoevalcap are Java programs; "
            "install a Java runtime (e.g. apt-get install -y default-jre-headless)")
_NO_PACKAGE = "pycocoevalcap is not installed: pip install 'omni-bench[eval]' (or pycocoevalcap==1.2)"


def require_scorers() -> None:
    """Raise one OmniBenchError line if pycocoevalcap or Java is missing."""
    try:
        import pycocoevalcap  # noqa: F401
    except ImportError:
        raise OmniBenchError(_NO_PACKAGE, reason="missing-dependency") from None
    if shutil.which("java") is None:
        raise OmniBenchError(_NO_JAVA, reason="missing-dependency")


@contextlib.contextmanager
def _quiet():
    """Silence Python's stdout and the file descriptor 2 that Java subprocesses inherit."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (some embedded interpreters)
        saved = None
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        if saved is not None:
            os.dup2(devnull, 2)
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        if saved is not None:
            os.dup2(saved, 2)
            os.close(saved)
        os.close(devnull)


def ptb_tokenize(captions: Mapping[object, Sequence[str]]) -> dict[object, list[str]]:
    """PTB-tokenized, lower-cased captions without punctuation tokens, per key.

    ``{0: ["A man, walking."]}`` -> ``{0: ["a man walking"]}``. Keys keep their order.
    """
    require_scorers()
    if not captions:
        return {}
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    with _quiet():
        done = PTBTokenizer().tokenize({key: [{"caption": text} for text in texts]
                                        for key, texts in captions.items()})
    return {key: done[key] for key in captions}


@functools.lru_cache(maxsize=1)
def meteor_scorer():
    """The process-wide METEOR 1.5 scorer (pycocoevalcap's ``Meteor``; started on first use)."""
    require_scorers()
    from pycocoevalcap.meteor.meteor import Meteor

    with _quiet():
        return Meteor()


def meteor(refs: Mapping[object, Sequence[str]], hyps: Mapping[object, Sequence[str]]) -> tuple[float, list[float]]:
    """METEOR of each hypothesis against its references: (the jar's corpus score, per-key scores).

    The corpus score is METEOR's own aggregate over the summed statistics, not the mean of
    the per-key scores. Arguments are pycocoevalcap's ``(gts, res)``: tokenized strings, one
    hypothesis per key.
    """
    if not hyps:
        return 0.0, []
    return meteor_scorer().compute_score(dict(refs), dict(hyps))


def cider(refs: Mapping[object, Sequence[str]], hyps: Mapping[object, Sequence[str]]) -> tuple[float, list[float]]:
    """CIDEr-D (n=4, sigma 6, x10) with document frequencies taken from these references."""
    require_scorers()
    from pycocoevalcap.cider.cider import Cider

    score, scores = Cider().compute_score(dict(refs), dict(hyps))
    return float(score), [float(s) for s in scores]


def bleu4(refs: Mapping[object, Sequence[str]], hyps: Mapping[object, Sequence[str]]) -> float:
    """Corpus BLEU-4 (pycocoevalcap's "closest" reference length)."""
    require_scorers()
    from pycocoevalcap.bleu.bleu import Bleu

    with _quiet():
        score, _ = Bleu(4).compute_score(dict(refs), dict(hyps))
    return float(score[3])


def rouge_l(refs: Mapping[object, Sequence[str]], hyps: Mapping[object, Sequence[str]]) -> float:
    """Mean ROUGE-L F (beta 1.2) over keys."""
    require_scorers()
    from pycocoevalcap.rouge.rouge import Rouge

    score, _ = Rouge().compute_score(dict(refs), dict(hyps))
    return float(score)
