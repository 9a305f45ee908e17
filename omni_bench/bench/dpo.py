"""One DPO step on a LongVALE-like pair: the media once per pair (ours) against the duplicated path.

What it measures
----------------
A pair shaped like LongVALE's: a long synthetic clip with its audio track (``seconds``, default
120 s, written once into the cache folder by :func:`omni_bench.core.media.write_clip`), sampled at
``fps`` with frames resized to ``resize`` (default 1 fps, 56x56: ~3,300 tokens, most of them the
audio's 25 per second), a grounding question and two short replies. One training step of the tiny
Qwen2.5-Omni thinker with a LoRA adapter, from the pair record to the optimizer step, two ways:

* **ours** (``train --method dpo``): the video decoded and processed once, the towers run once
  (:func:`omni_bench.training.preference_batch.encode_media`) and their outputs placed in the
  chosen and rejected rows, the reference pass reusing them; the pair's prompt through the text
  decoder once in each pass, the two replies attending to its keys and values
  (:func:`omni_bench.training.dpo.pair_hidden`);
* **duplicated** (what trl and LLaMA-Factory do): each row decoded and processed on its own and
  carrying its own copy of the media; the towers run per row, in the policy pass and again in the
  reference pass; each full row through the decoder.

The dataset keeps its last decode (an evaluation's questions about one video decode it once); the
bench drops it before each row it asks for, so every step decodes as its way does.

Each way runs in its own fresh process (:func:`omni_bench.bench.base.run_worker`): one warm-up step,
then ``steps`` measured ones (the fastest kept). Reported per way: ``media_encodes`` (tower passes of
the pair's video in the policy forward), ``media_encodes_per_step`` (policy + reference passes),
``media_decodes`` (times the clip is decoded and processed), the step's wall seconds and peak RSS
(MiB), and after the steps the reply tokens' log-probs under each way's path, from which
``max_logprob_diff`` (ours against duplicated, float32, per token) comes; ``max_summed_logprob_diff``
compares the four summed reply log-probs of the last step (a float32 sum near -170 has a resolution
of 1.5e-5, so it is one ulp apart where the two ways sum in another order).

Not covered: a real checkpoint's widths (the tiny model's towers and decoder are small, so the
seconds say how the media's share of a step moves, not a GPU's step time), batches of several
pairs, the GPU.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass

from omni_bench import tiny_model
from omni_bench.bench.base import PeakRSS, long_clip, markdown_table, run_worker
from omni_bench.core.processor import load_processor
from omni_bench.core.tokens import token_ids
from omni_bench.data.preference import PreferencePair
from omni_bench.layout.settings import LayoutSettings
from omni_bench.training.config import PreferenceSettings
from omni_bench.training.prepare import adapt_model

__all__ = ["DPOBench", "DPOBenchResult", "run"]

_WAYS = ("ours", "duplicated")
_COLUMNS = ("way", "media_decodes", "media_encodes", "media_encodes_per_step", "seconds", "cpu_seconds", "peak_mib",
            "tokens")


@dataclass(frozen=True)
class DPOBench:
    """``omni-bench bench dpo``'s settings."""

    seconds: float = 120.0  # clip length in seconds (LongVALE's clips run from seconds to minutes)
    fps: float = 1.0  # frames sampled per second of the clip
    resize: tuple[int, int] = (56, 56)  # frame size HxW (multiples of 28)
    steps: int = 3  # measured steps per way, after one warm-up (the fastest kept)
    seed: int = 0  # model, adapter and clip seed


@dataclass(frozen=True)
class DPOBenchResult:
    """What :func:`run` returns: one row per way and the side-by-side summary the must-show names."""

    config: dict  # the DPOBench it ran with
    rows: list  # one dict per way (columns: _COLUMNS)
    summary: dict  # media_encodes / seconds / peak_mib {ours, duplicated}, max_logprob_diff, ...

    def to_dict(self) -> dict:
        return {"name": "dpo", "config": self.config, "rows": self.rows, **self.summary}

    def to_markdown(self) -> str:
        s = self.summary
        settings = ", ".join(f"{k}={v}" for k, v in self.config.items())
        return "\n".join([
            "### dpo", "", settings, "", markdown_table(_COLUMNS, self.rows), "",
            f"seconds ours / duplicated: {s['seconds_ratio']:.2f} (CPU seconds: {s['cpu_seconds_ratio']:.2f}); "
            f"peak memory ours / duplicated: {s['peak_mib_ratio']:.2f}; "
            f"max |log-prob ours - duplicated|: {s['max_logprob_diff']:.2e} (float32, per reply token, after the "
            f"steps; of the four summed reply log-probs of the last step: {s['max_summed_logprob_diff']:.2e})", ""])

    def __str__(self) -> str:
        return self.to_markdown()


def _clip(config: DPOBench) -> str:
    return long_clip(config.seconds, config.seed)


def _pair(clip: str):
    question = "<video>\nAt which time interval in the video can we hear the tone and see the bar cross the frame?"
    return PreferencePair(0, "longvale-like", (("human", question),), "From 12 to 47.",
                          "From 00 to 99, the whole video.", videos=(clip,), use_audio_in_video=True)


def _worker(way: str, spec: dict) -> dict:
    """One way, in this process: warm-up, ``steps`` measured steps; the figures as a dict."""
    import torch

    from omni_bench.data.dataset import OmniSFTDataset
    from omni_bench.training.dpo import disable_dropout, dpo_step, pair_hidden
    from omni_bench.training.logprobs import token_logprobs
    from omni_bench.training.preference_batch import PreferenceCollator, PreferenceDataset, last_reply_labels
    config = DPOBench(**{**spec, "resize": tuple(spec["resize"])})
    torch.manual_seed(config.seed)
    processor = load_processor("qwen2.5-omni-7b")
    settings = LayoutSettings(profile="qwen2.5-omni-7b", fps=config.fps, resize=config.resize)
    pair = _pair(_clip(config))
    pairs = PreferenceDataset([pair], settings=settings, processor=processor)
    sides = OmniSFTDataset([pair.record("chosen"), pair.record("rejected")], media_root=".", settings=settings,
                           processor=processor)
    collator = PreferenceCollator(processor, settings=settings)
    model = adapt_model(tiny_model("qwen2.5-omni-7b", seed=config.seed), lora_r=8, lora_alpha=16)
    disable_dropout(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    visual = model.get_base_model().model.visual
    encodes = [0]
    visual.register_forward_pre_hook(lambda m, args, kwargs: encodes.__setitem__(
        0, encodes[0] + int(kwargs["grid_thw"].shape[0] if "grid_thw" in kwargs else args[1].shape[0])),
        with_kwargs=True)

    ids = token_ids(processor)

    def batch():  # the datasets keep their last decode: forgotten, so each step decodes as its way does
        if way == "ours":  # decoded and processed once
            pairs.sft.forget_decode()
            return collator([pairs[0]])
        sides.forget_decode()
        chosen = sides[0]
        sides.forget_decode()
        rejected = sides[1]  # each row decoded and processed on its own
        item = {"chosen_input_ids": chosen["input_ids"], "rejected_input_ids": rejected["input_ids"],
                "chosen_labels": last_reply_labels(chosen["input_ids"], ids),
                "rejected_labels": last_reply_labels(rejected["input_ids"], ids)}
        item.update({k: v for k, v in chosen.items() if k not in ("input_ids", "attention_mask", "labels")})
        return collator([item])  # dpo_step(shared=False) gives each row its own copy of the media

    def step():
        encodes[0] = 0
        b = batch()
        result = dpo_step(model, b, PreferenceSettings(), shared=way == "ours")
        policy_encodes = result.encodings.videos if result.encodings is not None else encodes[0] // 2
        result.loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return result, b, policy_encodes, encodes[0]

    step()  # warm-up
    best = None
    for _ in range(config.steps):
        probe = PeakRSS()
        probe.start()
        start, cpu = time.perf_counter(), time.process_time()
        result, b, policy_encodes, step_encodes = step()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        peak = probe.stop()
        if best is None or seconds < best["seconds"]:
            best = {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "peak_mib": round(peak / 2**20, 1)}
    sums = [float(v) for v in (*result.policy.chosen, *result.policy.rejected, *result.reference.chosen,
                               *result.reference.rejected)]
    with torch.no_grad():  # the reply tokens' log-probs one by one, after the steps, each way's own path
        hidden, _ = pair_hidden(model, b, shared=way == "ours")
        per_token = token_logprobs(hidden, model.get_output_embeddings(), b["labels"])
    tokens = per_token[b["labels"][:, 1:] != -100].tolist()
    return {"way": way, "media_decodes": 1 if way == "ours" else 2, "media_encodes": policy_encodes,
            "media_encodes_per_step": step_encodes, **best, "tokens": int(b["attention_mask"].sum()),
            "logps": tokens, "summed_logps": sums}


def run(config: DPOBench = DPOBench()) -> DPOBenchResult:
    """Both ways, each in a fresh process; the rows and the summary."""
    _clip(config)  # written once, before the workers read it
    spec = json.dumps(asdict(config))
    rows = [run_worker("omni_bench.bench.dpo", ["_worker", way, spec], label=f"bench dpo ({way})") for way in _WAYS]
    by = {row["way"]: row for row in rows}
    diff = max(abs(a - b) for a, b in zip(by["ours"].pop("logps"), by["duplicated"].pop("logps"), strict=True))
    summed = max(abs(a - b) for a, b in zip(by["ours"].pop("summed_logps"), by["duplicated"].pop("summed_logps"),
                                            strict=True))
    summary = {key: {way: by[way][key] for way in _WAYS}
               for key in ("media_decodes", "media_encodes", "media_encodes_per_step", "seconds", "cpu_seconds",
                           "peak_mib")}
    summary.update(max_logprob_diff=diff, max_summed_logprob_diff=summed,
                   seconds_ratio=round(by["ours"]["seconds"] / by["duplicated"]["seconds"], 3),
                   cpu_seconds_ratio=round(by["ours"]["cpu_seconds"] / by["duplicated"]["cpu_seconds"], 3),
                   peak_mib_ratio=round(by["ours"]["peak_mib"] / by["duplicated"]["peak_mib"], 3),
                   tokens=by["ours"]["tokens"])
    return DPOBenchResult(config=asdict(config), rows=rows, summary=summary)


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "_worker":
    print(json.dumps(_worker(sys.argv[2], json.loads(sys.argv[3]))))
