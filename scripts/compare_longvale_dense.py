"""Dense-captioning METEOR / CIDEr / SODA_c of omni_bench against LongVALE's own code, per video and threshold.

For each seed, writes a hard log (tests/longvale_reference.py ``dense_case``: gaps, overlaps,
out-of-order, reversed and out-of-video events, merges, repeated lines, answers without events,
captions whose tokens depend on the next line) and its annotations, then

* runs LongVALE's ``captioning_metrics`` from the given copy under the documented controls
  (``PYTHONHASHSEED=0``, ``random.seed(0)``), and again under each further ``--random-seeds``
  value (its garbage references change; its scores must not);
* runs omni_bench in two fresh interpreters under ``PYTHONHASHSEED`` 1 and 2 (must be identical);
* compares every per-threshold, per-video METEOR and CIDEr, per-video SODA_c and total (1e-6);
* with ``--spread``, runs LongVALE under each hash seed given and prints the spread of its totals
  and per-video scores: what "LongVALE's number" would be without the control.

    .venv/bin/python scripts/compare_longvale_dense.py LONGVALE [--seeds 0 1 2] [--videos 12]
        [--random-seeds 0 1] [--spread 0 1 2 3 4 5 6 7] [--keep DIR]

``LONGVALE``: a checkout of ttgeng233/LongVALE, or its git directory. Exit status 1 when any
score differs or omni_bench's two runs are not identical.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from longvale_reference import differences, hardness, ours_dense, reference_dense, write_case


def _largest(a: dict, b: dict) -> float:
    """The largest per-threshold, per-video METEOR / CIDEr difference of two detail tables."""
    return max((abs(a[m][t][v] - b[m][t][v]) for m in ("METEOR", "CIDEr") for t in b[m] for v in b[m][t]),
               default=0.0)


def _compare(source: str, folder: Path, seed: int, videos: int, random_seeds: list[int]) -> bool:
    ann, log = write_case(folder, seed, videos)
    kinds = hardness(json.loads(ann.read_text()), [json.loads(line) for line in log.read_text().splitlines()])
    print(f"seed {seed}: videos showing each kind: " + ", ".join(f"{k} {v}" for k, v in kinds.items()), flush=True)
    reference = reference_dense(log, ann, source, hash_seed=0, random_seed=random_seeds[0])
    ok = True
    for random_seed in random_seeds[1:]:
        other = reference_dense(log, ann, source, hash_seed=0, random_seed=random_seed)
        found = differences(other, reference, tolerance=0.0)
        ok &= not found
        print(f"seed {seed}: LongVALE under random.seed({random_seed}) vs ({random_seeds[0]}): "
              f"{len(found)} values differ" + (f" ({found[0]})" if found else ""), flush=True)
    first, second = ours_dense(log, ann, hash_seed=1), ours_dense(log, ann, hash_seed=2)
    same = first == second
    ok &= same
    found = differences(first, reference)
    ok &= not found
    pairs = sum(len(row) for row in reference["METEOR"].values())
    totals = ", ".join(f"{k} {v:.6f}" for k, v in reference["totals"].items())
    print(f"seed {seed}: {pairs} (video, threshold) METEOR and CIDEr values, {len(reference['soda'])} SODA_c; "
          f"LongVALE (hash seed 0): {totals}")
    print(f"seed {seed}: omni_bench under PYTHONHASHSEED 1 and 2 identical: {same}; values differing from "
          f"LongVALE by more than 1e-6: {len(found)}; largest difference {_largest(first, reference):.3g}")
    for line in found[:10]:
        print("    " + line)
    sys.stdout.flush()
    return ok


def _spread(source: str, folder: Path, seed: int, videos: int, hash_seeds: list[int]) -> None:
    ann, log = write_case(folder, seed, videos)
    runs = {h: reference_dense(log, ann, source, hash_seed=h) for h in hash_seeds}
    base = runs[hash_seeds[0]]
    for h, run in runs.items():
        totals = ", ".join(f"{k} {v:.4f}" for k, v in run["totals"].items())
        changed = len(differences(run, base, tolerance=1e-9))
        print(f"seed {seed}: LongVALE under PYTHONHASHSEED={h}: {totals}; per-video values unlike hash seed "
              f"{hash_seeds[0]}'s: {changed}, largest {_largest(run, base):.4f}")
    for key in base["totals"]:
        values = [run["totals"][key] for run in runs.values()]
        print(f"seed {seed}: {key} over {len(values)} hash seeds: {min(values):.4f} .. {max(values):.4f} "
              f"(spread {max(values) - min(values):.4f})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("longvale", help="a checkout of ttgeng233/LongVALE, or its git directory")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="generated logs to compare")
    parser.add_argument("--videos", type=int, default=12, help="videos per generated log")
    parser.add_argument("--random-seeds", type=int, nargs="+", default=[0, 1],
                        help="random.seed values LongVALE runs under (the first is the documented control)")
    parser.add_argument("--spread", type=int, nargs="*", default=[],
                        help="hash seeds to run LongVALE under on the first log, to show its spread")
    parser.add_argument("--keep", help="write the generated logs here (default: a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        ok = all([_compare(args.longvale, folder, seed, args.videos, args.random_seeds) for seed in args.seeds])
        if args.spread:
            _spread(args.longvale, folder, args.seeds[0], args.videos, args.spread)
    print("equal" if ok else "DIFFERENT")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
