"""SODA: the story-oriented score of dense video captions (Fujita et al., 2020).

SODA compares a video's predicted events with its true events *as stories*: both lists are
put in time order, and each true event may be matched to at most one prediction such that
matches never cross in time (if true event ``i`` goes with prediction ``j`` and ``i' > i``
with ``j'``, then ``j' > j``). Among all such order-preserving matchings it takes the one
with the largest total score ``S``, then

    precision = S / (number of predictions),  recall = S / (number of true events),
    F = 2 P R / (P + R).

``soda_c`` (what LongVALE reports) scores a pair by ``tIoU x METEOR``, where METEOR is
computed with the *true* sentence as the hypothesis and the predicted one as the reference
(the argument order of the reference implementation LongVALE ships), on PTB-tokenized,
ASCII-only text. A video without predictions has F = 0. The dataset's SODA_c is the mean F
over videos. The best matching is the longest-common-subsequence recurrence

    D[i][j] = max(D[i-1][j], D[i][j-1], D[i-1][j-1] + f(i, j)),  D[-1][*] = D[*][-1] = 0,

solved bottom-up here (the reference solves it by recursion and scores a video 0 when
Python's recursion limit is hit, around a thousand events; this module has no such limit).

Left out: SODA's other variants (a: F averaged over tIoU thresholds, b, d) and multiple
reference files (LongVALE has one).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["best_matching", "soda_prf", "order_by_start"]


def best_matching(scores: np.ndarray) -> tuple[float, list[tuple[int, int]]]:
    """The largest total of an order-preserving matching, and its pairs ``(true, predicted)``.

    ``scores``: ``[true events, predictions]``, non-negative.

    >>> best_matching(np.array([[0.2, 0.9], [0.8, 0.1]]))
    (0.9, [(0, 1)])
    >>> best_matching(np.array([[0.6, 0.0], [0.5, 0.7]]))
    (1.2999999999999998, [(0, 0), (1, 1)])
    """
    scores = np.asarray(scores, dtype=float)
    rows, cols = scores.shape
    table = np.zeros((rows + 1, cols + 1))
    for i in range(1, rows + 1):
        for j in range(1, cols + 1):
            table[i, j] = max(table[i - 1, j], table[i, j - 1], table[i - 1, j - 1] + scores[i - 1, j - 1])
    pairs: list[tuple[int, int]] = []
    i, j = rows, cols
    while i > 0 and j > 0:
        if table[i, j] == table[i - 1, j]:
            i -= 1
        elif table[i, j] == table[i, j - 1]:
            j -= 1
        else:
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
    return float(table[rows, cols]), pairs[::-1]


def soda_prf(tiou: np.ndarray, meteor: np.ndarray) -> tuple[float, float, float]:
    """SODA_c's (precision, recall, F) of one video from its ``[true, predicted]`` tIoU and METEOR matrices.

    >>> soda_prf(np.array([[1.0, 0.0], [0.0, 0.5]]), np.array([[0.5, 0.0], [0.0, 0.4]]))
    (0.35, 0.35, 0.35)
    """
    tiou, meteor = np.asarray(tiou, dtype=float), np.asarray(meteor, dtype=float)
    if tiou.size == 0:
        return 0.0, 0.0, 0.0
    total, _ = best_matching(tiou * meteor)
    n_true, n_pred = tiou.shape
    precision, recall = total / n_pred, total / n_true
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f


def order_by_start(spans: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of spans sorted by start time, ties in the order given (a stable sort).

    >>> order_by_start([(5, 9), (0, 3), (5, 6)])
    [1, 0, 2]
    """
    return sorted(range(len(spans)), key=lambda k: spans[k][0])
