"""One LoRA training step per loss backend on a thinker with Qwen2.5-Omni-3B's text widths.

The step study: on a GPU, the real-size Omni-3B text model (36 layers) at 8k tokens,
transformers' loss vs Liger's vs ours, step time and peak memory. Without a GPU the same
code runs a reduced study on CPU (the real widths and vocabulary, fewer layers and tokens)
so the figures still compare the backends inside a full training step. Writes
``benchmarks/results/step_<device>.{json,md}``. See ``omni_bench/bench/step.py``.

    python benchmarks/bench_step.py                      # CUDA if present: 36 layers, 8192 tokens
    python benchmarks/bench_step.py --device cpu         # CPU: 2 layers, 2048 tokens (~10 min)
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

from omni_bench.bench.step import bench_step, format_bench_step
from omni_bench.core.machine import describe_machine

ROOT = Path(__file__).resolve().parent.parent  # results go to ROOT/benchmarks/results



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="cuda, cpu or auto")
    parser.add_argument("--profile", default="qwen2.5-omni-3b")
    parser.add_argument("--tokens", type=int, help="default: 8192 on CUDA, 2048 on CPU")
    parser.add_argument("--layers", type=int, help="decoder layers (default: all on CUDA, 2 on CPU)")
    parser.add_argument("--steps", type=int, default=2, help="measured steps per backend")
    parser.add_argument("--tiny", action="store_true", help="tiny widths (a quick check of this script)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = parser.parse_args(argv)
    import torch

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    on_cpu = device == "cpu"
    tokens = args.tokens or (2048 if on_cpu else 8192)
    layers = args.layers if args.layers is not None else (2 if on_cpu else None)
    result = bench_step(args.profile, tokens, device=device, layers=layers, steps=args.steps,
                        text_dims=not args.tiny)
    info = describe_machine("torch", "transformers", "peft", "liger_kernel")
    if not on_cpu:
        info["gpu"] = torch.cuda.get_device_name(0)
    info["date"] = datetime.date.today().isoformat()
    command = "python benchmarks/bench_step.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = format_bench_step(result)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"step_{'cpu' if on_cpu else 'cuda'}"
    (out / f"{stem}.json").write_text(json.dumps({"result": result, "machine": info, "command": command},
                                                 indent=2) + "\n")
    machine = ", ".join(f"{k} {v}" for k, v in info.items())
    (out / f"{stem}.md").write_text(
        "# One LoRA training step per loss backend\n\n"
        "Random-initialised thinker with the profile's real text widths and vocabulary (towers tiny,\n"
        "text input only), prepared as `omni_bench.train` does (frozen base, gradient checkpointing,\n"
        "LoRA on the text projections, the fused loss); forward + backward + AdamW step, each backend\n"
        "in its own process; peak memory above what the process held before the measured steps.\n"
        "See `omni_bench/bench/step.py`.\n\n"
        f"```\n{text}\n```\n\n## Machine\n\n{machine}\n\n## Reproduce\n\n```\n{command}\n```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
