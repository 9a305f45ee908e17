"""One GRPO step at Qwen2.5-Omni-3B text widths (scripts/gpu_check.sh's ``grpo`` check), as JSON.

The thinker of ``qwen2.5-omni-3b`` randomly initialised with its real text widths (hidden 2048,
intermediate 11008, vocabulary 151,936; ``--layers`` decoder layers, default 4; the towers tiny, as in
``bench step``), LoRA r 8 on the text model, one prompt shaped like LongVALE's (``bench grpo``'s clip
with its audio, a grounding question) and one step of ``train --method grpo``'s code
(:func:`omni_bench.training.grpo.grpo_step`: rollout of G completions from one prefill, rewards,
advantages, replay, trl's loss, backward, optimizer step) after one warm-up step. Printed: the step's
seconds, peak memory, prompt tokens, completion length, loss, reward and the rollout = replay parity.

It has never run on a GPU (no device was lent while it was written); on CPU it runs at reduced size
with ``--device cpu --tiny`` (the tiny widths), which is how it was checked.

    python scripts/gpu_grpo_step.py --device cuda --json
    python scripts/gpu_grpo_step.py --device cpu --tiny --seconds 10 --json
"""

from __future__ import annotations

import argparse
import json
import time


def main(argv=None) -> int:
    import torch

    from omni_bench import tiny_model
    from omni_bench.bench.grpo import GRPOBench, _clip, _record
    from omni_bench.core.processor import load_processor
    from omni_bench.data.dataset import OmniCollator, OmniSFTDataset
    from omni_bench.layout.settings import LayoutSettings
    from omni_bench.training.config import GRPOSettings
    from omni_bench.training.dpo import disable_dropout
    from omni_bench.training.grpo import PromptCollator, PromptDataset, grpo_step
    from omni_bench.training.prepare import adapt_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], help="default: bfloat16 on CUDA, float32 on CPU")
    parser.add_argument("--tiny", action="store_true", help="the tiny widths instead of the 3B's (a CPU check)")
    parser.add_argument("--layers", type=int, default=4, help="text decoder layers (default 4)")
    parser.add_argument("--seconds", type=float, default=120.0, help="clip length (default 120 s)")
    parser.add_argument("--num-generations", type=int, default=8, help="G (default 8)")
    parser.add_argument("--max-completion-length", type=int, default=16, help="tokens per completion (default 16)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.exit(2, "gpu_grpo_step.py: --device cuda: no CUDA device here (pass --device cpu --tiny)\n")
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype or ("bfloat16" if device.type == "cuda" else "float32"))
    profile = "qwen2.5-omni-3b"
    bench = GRPOBench(seconds=args.seconds, num_generations=args.num_generations,
                      max_completion_length=args.max_completion_length)
    processor = load_processor(profile)
    settings = LayoutSettings(profile=profile, fps=bench.fps, resize=bench.resize)
    sft = OmniSFTDataset([_record(_clip(bench), bench.seconds)], media_root=".", settings=settings,
                         processor=processor)
    dataset, collator = PromptDataset(sft), PromptCollator(OmniCollator(processor, settings=settings))
    model = tiny_model(profile, seed=bench.seed, text_dims=not args.tiny, layers=args.layers, dtype=dtype)
    model = adapt_model(model.to(device), lora_r=8, lora_alpha=16, lora_dropout=0.0)
    disable_dropout(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    grpo = GRPOSettings(num_generations=bench.num_generations, max_completion_length=bench.max_completion_length)
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in collator([dataset[0]]).items()}
    for key in ("pixel_values_videos", "input_features"):  # the media in the model's dtype
        if isinstance(batch.get(key), torch.Tensor) and batch[key].is_floating_point():
            batch[key] = batch[key].to(dtype)

    def step():
        generator = torch.Generator(device).manual_seed(bench.seed)
        loss, metrics, done, _ = grpo_step(model, batch, grpo, processor, generator=generator)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss, metrics, done

    model.train()
    step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    loss, metrics, done = step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    result = {"name": "grpo_step", "profile": profile, "text_dims": not args.tiny, "layers": args.layers,
              "hidden": model.get_output_embeddings().weight.shape[1], "device": args.device,
              "dtype": str(dtype).removeprefix("torch."), "num_generations": grpo.num_generations,
              "prompt_tokens": int(batch["input_ids"].shape[1]), "completion_tokens": int(done.completion_ids.shape[1]),
              "seconds": round(seconds, 3), "loss": float(loss.detach()), "reward": metrics["reward"],
              "peak_gpu_mib": round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
              if device.type == "cuda" else None,
              "parity": {k: metrics[f"parity/{k}"] for k in ("checked", "position_ids_equal", "max_logprob_diff")}}
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
