"""One GRPO step on a LongVALE-like prompt: one encode and one prefill per group (ours) against the
duplicated path.

What it measures
----------------
A prompt shaped like LongVALE's: a long synthetic clip with its audio track (``seconds``, default
120 s, written once into the cache folder by :func:`omni_bench.core.media.write_clip`), sampled at
``fps`` with frames resized to ``resize`` (default 1 fps, 56x56: ~3,300 tokens, most of them the
audio's 25 per second), a grounding question whose answer is a short span. One GRPO step of the tiny
Qwen2.5-Omni thinker with a LoRA adapter at ``num_generations`` G (default 8), from the record to the
optimizer step (rollout of ``max_completion_length`` tokens, rewards, advantages, replay, trl's loss,
backward), two ways:

* **ours** (``train --method grpo``): the clip decoded and processed once, the towers run once, the
  prompt prefilled once and the G completions sampled from the repeated KV cache; the replay reuses
  the tower outputs and shares the prompt's decoder pass (the prompt row once, forward and backward,
  the G completions attending to its keys and values) (:mod:`omni_bench.training.rollout`);
* **duplicated** (trl's repeat-the-prompt path, Time-R1's ``pixel_values_videos.repeat``): the prompt
  processed G times, G prompt rows each with its own copy of the media, the towers and the prefill run
  per row, in the rollout and again in the replay (G full rows through the decoder, forward and
  backward).

Each way runs in its own fresh process (:func:`omni_bench.bench.base.run_worker`): one warm-up step,
then ``steps`` measured ones (the fastest kept), the same sampling seed in both; with ``rounds`` > 1 the
two ways' processes alternate that many times and each way keeps its fastest step over all (on a
machine shared with other work, the load then weighs on both ways alike). Reported per way:
``tower_forwards`` (videos the vision tower encoded in a step, rollout and replay), ``prefill_tokens``
(prompt tokens the rollout's prefill ran), ``decoder_tokens`` (tokens through the text decoder's
forward in the step: prefill, the sampled tokens, the replay), the step's wall and CPU seconds and
peak RSS (MiB); ``every_seconds``, every measured step's wall seconds per way, and the ratio of their
medians (``median_seconds_ratio``) beside the fastest steps' (``seconds_ratio``); and
``max_logprob_diff``, the largest difference of the replay's per-token log-probs of the (same)
completions between the ways, and whether the completions were the same.

Not covered: a real checkpoint's widths (the tiny model's towers and decoder are small, so the seconds
say how the media's share of a step moves, not a GPU's step time), several prompts per step, the GPU.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass

from omni_bench import tiny_model
from omni_bench.bench.base import PeakRSS, long_clip, markdown_table, run_worker
from omni_bench.core.processor import load_processor
from omni_bench.data.records import Record
from omni_bench.layout.settings import LayoutSettings
from omni_bench.training.config import GRPOSettings
from omni_bench.training.prepare import adapt_model

__all__ = ["GRPOBench", "GRPOBenchResult", "run"]

_WAYS = ("ours", "duplicated")
_COLUMNS = ("way", "media_processed", "tower_forwards", "prefill_tokens", "decoder_tokens", "seconds",
            "cpu_seconds", "peak_mib", "prompt_tokens")


@dataclass(frozen=True)
class GRPOBench:
    """``omni-bench bench grpo``'s settings."""

    seconds: float = 120.0  # clip length in seconds (LongVALE's clips run from seconds to minutes)
    fps: float = 1.0  # frames sampled per second of the clip
    resize: tuple[int, int] = (56, 56)  # frame size HxW (multiples of 28)
    num_generations: int = 8  # G, completions per prompt (Time-R1's 8)
    max_completion_length: int = 16  # tokens per completion (a grounding answer is a few)
    steps: int = 1  # measured steps per way, after one warm-up (the fastest kept)
    rounds: int = 1  # the two ways run alternately this many times, each a fresh process (the fastest step kept)
    seed: int = 0  # model, adapter, clip and sampling seed


@dataclass(frozen=True)
class GRPOBenchResult:
    """What :func:`run` returns: one row per way and the side-by-side summary the must-show names."""

    config: dict
    rows: list  # one dict per way (columns: _COLUMNS)
    summary: dict  # tower_forwards / prefill_tokens / decoder_tokens / seconds / peak_mib {ours, duplicated}, ...

    def to_dict(self) -> dict:
        return {"name": "grpo", "config": self.config, "rows": self.rows, **self.summary}

    def to_markdown(self) -> str:
        s = self.summary
        settings = ", ".join(f"{k}={v}" for k, v in self.config.items())
        return "\n".join([
            "### grpo", "", settings, "", markdown_table(_COLUMNS, self.rows), "",
            f"seconds ours / duplicated: {s['seconds_ratio']:.2f} (CPU seconds: {s['cpu_seconds_ratio']:.2f}; "
            f"medians of every measured step: {s['median_seconds_ratio']:.2f}, ours {s['every_seconds']['ours']}, "
            f"duplicated {s['every_seconds']['duplicated']}); "
            f"peak memory ours / duplicated: {s['peak_mib_ratio']:.2f}; same completions: {s['same_completions']}; "
            f"max |log-prob ours - duplicated|: {s['max_logprob_diff']:.2e} (float32, per completion token)", ""])

    def __str__(self) -> str:
        return self.to_markdown()


def _clip(config: GRPOBench) -> str:
    return long_clip(config.seconds, config.seed)


def _record(clip: str, seconds: float) -> Record:
    question = "<video>\nAt which time interval in the video can we hear the tone and see the bar cross the frame?"
    return Record(id="longvale-like", conversations=(("human", question), ("gpt", "From 12 to 47.")),
                  videos=(clip,), duration=seconds, source="bench")


def _worker(way: str, spec: dict) -> dict:
    """One way, in this process: warm-up, ``steps`` measured steps; the figures as a dict."""
    import torch

    from omni_bench.data.dataset import OmniCollator, OmniSFTDataset
    from omni_bench.training.dpo import disable_dropout
    from omni_bench.training.grpo import PromptCollator, PromptDataset, grpo_step
    from omni_bench.training.preference_batch import model_parts
    from omni_bench.training.rollout import tower_counter

    config = GRPOBench(**{**spec, "resize": tuple(spec["resize"])})
    torch.manual_seed(config.seed)
    processor = load_processor("qwen2.5-omni-7b")
    settings = LayoutSettings(profile="qwen2.5-omni-7b", fps=config.fps, resize=config.resize)
    sft = OmniSFTDataset([_record(_clip(config), config.seconds)], media_root=".", settings=settings,
                         processor=processor)
    dataset, collator = PromptDataset(sft), PromptCollator(OmniCollator(processor, settings=settings))
    model = adapt_model(tiny_model("qwen2.5-omni-7b", seed=config.seed), lora_r=8, lora_alpha=16)
    disable_dropout(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    grpo = GRPOSettings(num_generations=config.num_generations, max_completion_length=config.max_completion_length)
    processed = 1 if way == "ours" else config.num_generations
    tokens = []  # the text decoder's tokens, counted at its first layer (a checkpointed recompute is not a call)
    first_layer = model_parts(model)[1].language_model.layers[0]
    first_layer.register_forward_pre_hook(lambda module, args: tokens.append(args[0].shape[:2].numel()))

    def item():  # the dataset keeps its last decode: forgotten, so each prompt row decodes as its way does
        sft.forget_decode()
        return dataset[0]

    def step():
        batch = collator([item()])
        for _ in range(processed - 1):  # the duplicated path decodes and processes the prompt per completion
            collator([item()])
        generator = torch.Generator().manual_seed(config.seed)
        tokens.clear()
        with tower_counter(model) as counts:
            loss, metrics, done, _ = grpo_step(model, batch, grpo, processor, generator=generator,
                                               shared=way == "ours")
            loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return batch, metrics, done, {**counts, "decoder_tokens": sum(tokens)}

    model.train()
    step()  # warm-up
    best, every = None, []
    for _ in range(config.steps):
        probe = PeakRSS()
        probe.start()
        start, cpu = time.perf_counter(), time.process_time()
        batch, metrics, done, counts = step()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        peak = probe.stop()
        every.append(round(seconds, 3))
        if best is None or seconds < best["seconds"]:
            best = {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "peak_mib": round(peak / 2**20, 1)}
    # the replay's log-probs of the completions under the model as the step left it (no graph)
    from omni_bench.training.rollout import replay

    with torch.no_grad():
        logps, _ = replay(model, batch, done, shared=way == "ours")
    return {"way": way, "media_processed": processed, "tower_forwards": counts["vision"],
            "prefill_tokens": done.prefill_tokens, "decoder_tokens": counts["decoder_tokens"], **best,
            "prompt_tokens": int(batch["input_ids"].shape[1]), "every_seconds": every,
            "completions": done.completion_ids.tolist(), "logps": logps[done.completion_mask.bool()].tolist(),
            "parity": {k: metrics[f"parity/{k}"] for k in ("checked", "position_ids_equal", "max_logprob_diff")}}


def run(config: GRPOBench = GRPOBench()) -> GRPOBenchResult:
    """Both ways, each in a fresh process (alternately, ``rounds`` times); the rows and the summary."""
    _clip(config)
    spec = json.dumps(asdict(config))
    runs = {way: [] for way in _WAYS}
    for round_ in range(config.rounds):  # alternating, so a shared machine's changing load weighs on both ways
        for way in _WAYS:
            label = f"bench grpo ({way}" + (f", round {round_ + 1}/{config.rounds})" if config.rounds > 1 else ")")
            runs[way].append(run_worker("omni_bench.bench.grpo", ["_worker", way, spec], label=label))
    every = {way: sorted(t for row in runs[way] for t in row.pop("every_seconds")) for way in _WAYS}
    by = {way: min(runs[way], key=lambda row: row["seconds"]) for way in _WAYS}
    rows = [by[way] for way in _WAYS]
    same = by["ours"].pop("completions") == by["duplicated"].pop("completions")
    ours_logps, dup_logps = by["ours"].pop("logps"), by["duplicated"].pop("logps")
    diff = max((abs(a - b) for a, b in zip(ours_logps, dup_logps, strict=True)), default=0.0) if same else None
    summary = {key: {way: by[way][key] for way in _WAYS}
               for key in ("media_processed", "tower_forwards", "prefill_tokens", "decoder_tokens", "seconds",
                           "cpu_seconds", "peak_mib", "parity")}
    for row in rows:
        row.pop("parity")
    summary.update(max_logprob_diff=diff, same_completions=same,
                   seconds_ratio=round(by["ours"]["seconds"] / by["duplicated"]["seconds"], 3),
                   cpu_seconds_ratio=round(by["ours"]["cpu_seconds"] / by["duplicated"]["cpu_seconds"], 3),
                   peak_mib_ratio=round(by["ours"]["peak_mib"] / by["duplicated"]["peak_mib"], 3),
                   every_seconds=every,  # each measured step's wall seconds, per way (the spread the load makes)
                   median_seconds_ratio=round(statistics.median(every["ours"]) /
                                              statistics.median(every["duplicated"]), 3),
                   prompt_tokens=by["ours"]["prompt_tokens"])
    return GRPOBenchResult(config=asdict(config), rows=rows, summary=summary)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "_worker":
    print(json.dumps(_worker(sys.argv[2], json.loads(sys.argv[3]))))
