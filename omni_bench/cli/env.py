"""``omni-bench env``: what a bug report needs, the versions, kernels and devices this runs on."""

from __future__ import annotations

import json

from omni_bench.cli.flags import add_json_flag
from omni_bench.core.machine import environment


def register(subparsers) -> None:
    p = subparsers.add_parser("env", help="versions of python, torch, transformers and the media / kernel "
                                          "packages, torchvision status, CPU kernel path, CUDA and GPUs "
                                          "(paste it into bug reports)")
    add_json_flag(p)
    p.set_defaults(func=run)


def format_environment(info: dict) -> str:
    """The environment as aligned ``name: value`` lines."""
    rows = [("omni_bench", info["omni_bench"]), ("python", info["python"]), ("platform", info["platform"]),
            *info["packages"].items(),
            ("torchvision status", info["torchvision_status"] or "-"),
            ("cpu", info["cpu"]), ("cpu kernel path", info["cpu_capability"] or "-"),
            ("torch threads", info["torch_threads"] if info["torch_threads"] is not None else "-"),
            *info["environment"].items(),
            ("cuda", f"available (CUDA {info['cuda_version']})" if info["cuda"] else "not available"),
            ("gpus", ", ".join(info["gpus"]) or "none")]
    width = max(len(str(name)) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)


def run(args) -> int:
    info = environment()
    print(json.dumps(info, ensure_ascii=False) if args.json else format_environment(info))
    return 0
