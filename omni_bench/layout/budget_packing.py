"""How a dataset packs into rows of ``capacity`` tokens: first-fit decreasing, from token counts alone.

:func:`pack_rows` is the one first-fit-decreasing rule of the project (the collator's packed
batches, the dataset-level sampler of :mod:`omni_bench.data.packing` and the budget report all
use it): longest sample first, each into the first row it fits. A segment tree over the rows'
free room finds that row in ``O(log rows)``, so a LongVALE-sized dataset (75,075 samples) packs
in about a second. :func:`dataset_packing` reports the rows a dataset makes, packed against one
sample per row, for ``omni-bench budget --max-total-tokens N`` (:class:`omni_bench.layout.budget.Budget`).

Pure Python and NumPy: nothing here imports torch (the budget path stays light). Left out:
the padding of batches of several rows (a batch pads its rows to its longest; the training
run's report, :meth:`omni_bench.data.packing.PackedBatchSampler.report`, counts that).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["pack_rows", "dataset_packing", "format_dataset_packing"]


def _first_fit(ordered: Sequence[int], capacity: int) -> list[list[int]]:
    # positions into `ordered` per row; tree[node] = the most free room of any row below node
    size = 1
    while size < max(len(ordered), 1):
        size *= 2
    tree = [capacity] * (2 * size)  # rows not yet opened have all their room
    rows: list[list[int]] = []
    for position, length in enumerate(ordered):
        if tree[1] >= length:
            node = 1
            while node < size:
                node = 2 * node if tree[2 * node] >= length else 2 * node + 1
            row = node - size
        else:  # longer than a row: a row of its own (its room goes negative)
            row, node = len(rows), size + len(rows)
        if row == len(rows):
            rows.append([])
        rows[row].append(position)
        tree[node] -= length
        node //= 2
        while node:
            tree[node] = max(tree[2 * node], tree[2 * node + 1])
            node //= 2
    return rows


def pack_rows(lengths: Sequence[int], capacity: int | None) -> list[list[int]]:
    """Sample indices per row, first-fit decreasing: longest first (ties: lower index first), each into
    the first row it fits; rows in the order they were opened.

    A sample longer than ``capacity`` gets a row of its own; ``capacity`` None: one row.
    >>> pack_rows([5, 3, 8, 2, 4], 10)
    [[2, 3], [0, 4], [1]]
    """
    if capacity is None:
        return [list(range(len(lengths)))]
    order = sorted(range(len(lengths)), key=lambda i: (-int(lengths[i]), i))
    return [[order[p] for p in row] for row in _first_fit([int(lengths[i]) for i in order], int(capacity))]


def dataset_packing(lengths: Sequence[int], capacity: int) -> dict:
    """Rows of ``capacity`` tokens a dataset fills, packed (first-fit decreasing) vs one sample per row.

    Samples longer than ``capacity`` are left out (training drops them) and counted as ``over``.
    ``fill_fraction``: sample tokens / (rows x capacity); ``padding_fraction`` is its complement.
    >>> d = dataset_packing([6, 4, 5, 5, 12], 10)
    >>> d["packed"]["rows"], d["padded"]["rows"], d["packed"]["fill_fraction"], d["over"]
    (2, 4, 1.0, 1)
    """
    arr = np.asarray(lengths, dtype=np.int64)
    kept = arr[arr <= capacity]
    tokens = int(kept.sum())
    rows = pack_rows(kept.tolist(), capacity)
    per_row = [len(row) for row in rows]

    def layout(n_rows: int, samples_per_row: list[int]) -> dict:
        fill = tokens / (n_rows * capacity) if n_rows else 0.0
        return {"rows": n_rows, "slots": n_rows * capacity, "fill_fraction": fill, "padding_fraction": 1 - fill,
                "samples_per_row": {"mean": len(kept) / n_rows if n_rows else 0.0,
                                    "max": max(samples_per_row, default=0)}}

    return {"capacity": int(capacity), "samples": len(kept), "over": int(len(arr) - len(kept)), "tokens": tokens,
            "padded": layout(len(kept), [1] * len(kept)), "packed": layout(len(rows), per_row)}


def format_dataset_packing(d: dict) -> list[str]:
    """The budget report's lines for :func:`dataset_packing`."""
    lines = [f"rows of {d['capacity']:,} tokens ({d['samples']} samples"
             + (f"; {d['over']} over, left out" if d["over"] else "") + "):"]
    for kind in ("padded", "packed"):
        r = d[kind]
        lines.append(f"  {kind:7s} {r['rows']:>7,} rows  fill {100 * r['fill_fraction']:5.1f}%  padding "
                     f"{100 * r['padding_fraction']:5.1f}%  samples/row {r['samples_per_row']['mean']:.2f} "
                     f"(max {r['samples_per_row']['max']})")
    return lines
