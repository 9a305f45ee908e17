"""``omni_bench.evaluate``: ask a model LongVALE's questions, log its answers, score them.

One query per video (dense captioning) or per event (grounding, segment captioning), with
LongVALE's prompts (:mod:`omni_bench.eval.prompts`). Each query becomes a one-turn record
and goes through :class:`~omni_bench.data.dataset.OmniSFTDataset` — the same probing, frame
sampling, frame size, audio from the video and chunking as training, through the same
processor call — and the prompt is the item's ``input_ids`` up to its first labelled token
(the reply's start, right after ``<|im_start|>assistant\\n``). Prompts are left-padded into
batches by :class:`~omni_bench.data.dataset.OmniCollator` and answered by greedy decoding.
Before anything is decoded, each batch's memory is estimated from the plan
(:mod:`omni_bench.eval.memory`: pixels, audio features, the towers, the KV cache, the logits)
and the batch shrunk to fit ``max_memory`` (default: a quarter of the memory available), or the
run refused in one line naming the query and the fix. Stage lines on stderr name each step
before the first answer (:mod:`omni_bench.core.stages`).

Answers are appended to the log after every batch in LongVALE's format (grounding lines
carry LongVALE's ``info.iou``), so a run that stops resumes where it was: queries already
in the log are skipped. Videos that cannot be read are skipped and listed, as LongVALE's
``eval.py`` skips them.

Models: ``tiny`` (the profile's tiny model, seeded), ``model`` (a checkpoint directory),
or ``adapter`` (a training run folder: its base model — the same seeded tiny model for a
tiny run — with its adapter, and its sampling settings unless given here).

Left out: sampling-based decoding, several queries per event, pre-extracted features.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from omni_bench.core.composed import composed, flat_names, unused_fields
from omni_bench.core.errors import OmniBenchError
from omni_bench.core.models import tiny_model
from omni_bench.core.processor import load_processor
from omni_bench.core.stages import progress_bar, stage
from omni_bench.data.records import Record
from omni_bench.data.settings import DataSettings
from omni_bench.eval.answers import PARSE_MODES, parse_span
from omni_bench.eval.grounding import predicted_fraction, span_iou, true_fraction
from omni_bench.eval.log import append_log, entry_key, load_eval_annotations, log_lock, read_log, repair_log
from omni_bench.eval.memory import ItemCost, ModelShape, memory_budget, parse_size, plan_batches
from omni_bench.eval.memory import last_logits_only as last_only
from omni_bench.eval.prompts import PROMPT_STYLES, Query, make_queries
from omni_bench.eval.score import SCORE_TASKS, Scores, score
from omni_bench.layout.labels import IGNORE_INDEX
from omni_bench.layout.settings import LayoutSettings
from omni_bench.training.config import CONFIG_FILE, TrainConfig
from omni_bench.training.prepare import load_model, load_trained_model, resolve_dtype

__all__ = ["EvalConfig", "EvalRun", "evaluate", "SAMPLING_OVERRIDES"]


@composed
@dataclass(frozen=True)
class EvalConfig:
    """What an evaluation run is asked to do; ``omni-bench eval run`` flags map 1:1.

    It holds the data part (:class:`~omni_bench.data.settings.DataSettings`: the annotation file as
    ``--annotations``, the media root, the token budget) and the layout part
    (:class:`~omni_bench.layout.settings.LayoutSettings`), as ``TrainConfig`` does; flat keywords fill
    them (``EvalConfig(annotations=..., tiny=True, frames=4)``). The layout is resolved when the config is
    made: with ``adapter``, the run's own settings with the ones given here over them, and the run's model
    as the profile; with ``model``, its checkpoint as the profile.
    """

    dataset: DataSettings = field(default_factory=DataSettings, metadata={
        "unused": ("data_format", "task", "time_format", "split_turns"),  # LongVALE eval annotations, one turn each
        "flags": {"data": "--annotations ANN: LongVALE eval annotations {video_id: {duration, timestamps, "
                          "sentences}}"}})
    output: str = "runs/eval.jsonl"  # --output LOG: the answer log (JSON Lines), appended; answered queries skipped
    tiny: bool = False  # --tiny: the profile's random-init tiny model, seeded with --seed
    model: str | None = None  # --model PATH: a checkpoint directory (weights + processor)
    adapter: str | None = None  # --adapter RUN_DIR: a training run: its base model, adapter and sampling settings
        # (flags given here replace the run's)
    seed: int = 0  # --seed: the tiny model's init seed (a run's own with --adapter)
    task: str = "all"  # --task: grounding | captioning | seg_captioning | all
    prompts: str = "longvale"  # --prompts: longvale (LongVALE eval.py's questions) | training
        # (omni-bench train's prompts: a memorisation check, not a benchmark)
    limit: int | None = None  # --limit N: answer at most N more queries (in LongVALE's order)
    max_new_tokens: int = 64  # --max-new-tokens N: greedy decoding length per answer
    batch_size: int = 4  # --batch-size N: queries per generate call
    parse: str = "longvale"  # --parse: longvale | lenient (how the printed scores read answers)
    progress: bool = True  # --no-progress hides the progress bar
    max_memory: str | None = None  # --max-memory SIZE: memory a generation batch may take, e.g. 8GiB (None:
        # 25% of the memory available); batches are shrunk to fit it, a query that alone does not is refused
    layout: LayoutSettings = field(default_factory=LayoutSettings,
                                   metadata={"unused": ("prompt", "answer")})  # the questions are LongVALE's

    @classmethod
    def _part_base(cls, part: str, given: dict):
        """The layout flat keywords change: the ``adapter`` run's, else the defaults."""
        if part == "layout" and given.get("adapter") and not given.get("tiny") and not given.get("model"):
            return _train_config(given["adapter"]).layout_settings()
        return DataSettings() if part == "dataset" else LayoutSettings()

    def __post_init__(self):
        def bad(message: str):
            raise OmniBenchError(message, reason="bad-settings")

        if not self.annotations:
            bad("pass --annotations ANN (LongVALE eval annotations)")
        if sum(bool(x) for x in (self.tiny, self.model, self.adapter)) != 1:
            bad("pass exactly one of --tiny (with --profile), --model PATH or --adapter RUN_DIR")
        self._check_unused()
        if self.task not in SCORE_TASKS:
            bad(f"--task must be one of {', '.join(SCORE_TASKS)}, got {self.task!r}")
        if self.prompts not in PROMPT_STYLES:
            bad(f"--prompts must be one of {', '.join(PROMPT_STYLES)}, got {self.prompts!r}")
        if self.parse not in PARSE_MODES:
            bad(f"--parse must be one of {', '.join(PARSE_MODES)}, got {self.parse!r}")
        for name in ("max_new_tokens", "batch_size"):
            if getattr(self, name) < 1:
                bad(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.limit is not None and self.limit < 0:
            bad(f"--limit must be >= 0, got {self.limit}")
        if self.max_memory is not None:
            parse_size(self.max_memory)  # a size such as 8GiB, or one clear line
        owner = (_train_config(self.adapter).layout_settings().profile if self.adapter else self.model)
        if owner and self.layout.profile != owner:  # the model decides the processor
            object.__setattr__(self, "layout", self.layout.replace(profile=owner))

    def replace(self, **changes) -> EvalConfig:
        return dataclasses.replace(self, **changes)


# The LayoutSettings fields an evaluation takes besides the profile (the same flags as train's); given, they
# replace the run's.
SAMPLING_OVERRIDES = tuple(name for name, path in flat_names(EvalConfig).items() if path[0] == "layout"
                           and name != "profile" and name not in unused_fields(EvalConfig, "layout"))


@dataclass(frozen=True)
class EvalRun:
    """What :func:`evaluate` did: queries answered now / before, videos skipped, and the log's scores."""

    output: Path  # the answer log
    queries: int  # queries of the annotations for the task
    answered: int  # answered by this call
    already: int  # found in the log and skipped
    skipped: tuple  # Problems of the queries whose video could not be read (omni_bench.core.problems.Problem)
    scores: Scores  # the whole log's scores

    def to_dict(self) -> dict:
        return {"output": str(self.output), "queries": self.queries, "answered": self.answered,
                "already": self.already,
                "skipped": [{"source": p.source, "reason": p.reason, "message": p.message} for p in self.skipped],
                "scores": self.scores.to_dict()}

    def __str__(self) -> str:
        head = (f"{self.output}: {self.queries} queries, {self.answered} answered now, {self.already} already in "
                f"the log" + (f", {len(self.skipped)} skipped" if self.skipped else ""))
        lines = [head, *(f"  skipped {p}" for p in self.skipped[:5]), str(self.scores)]
        return "\n".join(lines)


def _train_config(path: str):
    run = Path(path)
    if not (run / CONFIG_FILE).is_file():
        raise OmniBenchError(f"{run}: no {CONFIG_FILE}; --adapter takes a training run folder", source=str(run),
                             reason="missing")
    return TrainConfig.from_file(run / CONFIG_FILE)


def _settings(config: EvalConfig) -> LayoutSettings:
    """The LayoutSettings the queries are sampled with (resolved when the config was made)."""
    return config.layout


def _load_model(config: EvalConfig):
    """(model in eval mode, processor) as the config asks."""
    if config.adapter:
        run = _train_config(config.adapter)
        return load_trained_model(config.adapter).eval(), load_processor(run.model or run.profile)
    if config.tiny:
        return tiny_model(config.profile, seed=config.seed).eval(), load_processor(config.profile)
    train_like = TrainConfig(model=config.model, data=config.annotations)
    return load_model(train_like, resolve_dtype(train_like)).eval(), load_processor(config.model)


def _records(queries: list[Query], annotations: dict) -> list:
    return [Record(f"{q.video_id}|{q.task}|{q.sentence_id}", (("human", q.text), ("gpt", q.reference or "-")),
                   videos=(q.video_id,), duration=float(annotations[q.video_id]["duration"]), source="eval")
            for q in queries]


def _prompt_item(item: dict) -> dict:
    """A dataset item cut before its reply: the generation prompt, with the same media tensors."""
    import torch

    labelled = torch.nonzero(item["labels"] != IGNORE_INDEX)
    end = int(labelled[0]) if len(labelled) else len(item["labels"])
    # every per-token tensor is cut with the ids (Qwen3-VL's mm_token_type_ids too); media tensors stay whole
    per_token = ("input_ids", "attention_mask", "mm_token_type_ids")
    prompt = {key: value[:end] if key in per_token else value for key, value in item.items() if key != "labels"}
    prompt["labels"] = torch.full((end,), IGNORE_INDEX, dtype=item["labels"].dtype)
    return prompt


def _entry(query: Query, answer: str, annotations: dict) -> dict:
    entry = {"video_id": query.video_id, "task": query.task, "query_id": query.query_id, "answer": answer}
    if query.task == "grounding":
        video = annotations[query.video_id]
        true = true_fraction(video["timestamps"][query.sentence_id], video["duration"])
        iou = span_iou(predicted_fraction(parse_span(answer), video["duration"]), true)
        entry["info"] = {"sentence_id": query.sentence_id, "iou": iou}
    elif query.task == "seg_captioning":
        entry["info"] = {"sentence_id": query.sentence_id}
    return entry


def _generate(model, processor, settings, batch_items: list[dict], max_new_tokens: int, *,
              last_logits_only: bool = False, **sampling) -> list[str]:
    """The answers to prompt items, greedy unless ``sampling`` gives generate's sampling kwargs
    (``do_sample=True, temperature=..., top_p=...``: the preference pairs' rollouts).
    ``last_logits_only``: the prefill computes the last position's logits alone
    (:func:`omni_bench.eval.memory.last_logits_only`; planned by :func:`~omni_bench.eval.memory.plan_batches`)."""
    import torch

    from omni_bench.data.dataset import OmniCollator
    batch = OmniCollator(processor, padding_side="left", settings=settings)(batch_items)
    batch.pop("labels")
    with torch.no_grad(), last_only(model, last_logits_only):
        out = model.generate(**batch, max_new_tokens=max_new_tokens, **{"do_sample": False, **sampling})
    new = out[:, batch["input_ids"].shape[1]:]
    return [text.strip() for text in processor.batch_decode(new, skip_special_tokens=True)]


def evaluate(config: EvalConfig | None = None, *, model=None, processor=None, **fields) -> EvalRun:
    """Answer the annotations' queries not yet in ``config.output``, append them, and score the log.

    ``model`` / ``processor``: an already loaded model and its processor (then ``tiny``/``model``/
    ``adapter`` only say which settings apply; the run's with ``adapter``).
    ``fields``: :class:`EvalConfig` fields, when no config is given.

    >>> run = evaluate(annotations="data/longvale_annotations.json", tiny=True, task="grounding",
    ...                frames=4, resize=(56, 56), output="runs/eval.jsonl")   # doctest: +SKIP
    >>> run.scores["grounding"]["mIoU"]                                      # doctest: +SKIP
    """
    config = config.replace(**fields) if config is not None else EvalConfig(**fields)
    annotations = load_eval_annotations(config.annotations)
    queries = make_queries(annotations, config.task, config.prompts)
    output = Path(config.output)
    with log_lock(output):  # one eval run per log; a torn last line is cut and its query redone (eval/log.py)
        return _evaluate_log(config, annotations, queries, output, model, processor)


def _evaluate_log(config: EvalConfig, annotations: dict, queries: list, output: Path, model, processor) -> EvalRun:
    """:func:`evaluate` once the log is locked: repair it, answer what it lacks, score it."""
    torn = repair_log(output)
    if torn:
        stage("eval", torn, config.progress)
    done = {entry_key(e) for e in read_log(output)[0]} if output.is_file() else set()
    todo = [q for q in queries if q.key not in done]
    todo = todo[:config.limit] if config.limit is not None else todo
    stage("eval", f"{len(queries)} queries in {config.annotations}, {len(todo)} to answer", config.progress)
    answered, skipped = 0, ()
    if todo:
        stage("eval", "importing torch and transformers...", config.progress)
        from omni_bench.data.dataset import OmniSFTDataset
        settings = _settings(config)
        if model is None:
            stage("eval", f"loading the {'tiny ' if config.tiny else ''}{settings.profile} model and processor...",
                  config.progress)
        loaded_model, loaded_processor = _load_model(config) if model is None else (model, processor)
        stage("eval", f"planning {len(todo)} queries (the videos probed, nothing decoded)...", config.progress)
        dataset = OmniSFTDataset(_records(todo, annotations), media_root=config.dataset.media_folder(),
                                 settings=settings, processor=loaded_processor,
                                 max_total_tokens=config.max_total_tokens)
        skipped = tuple(dataset.dropped)
        budget, chosen = memory_budget(config.max_memory)
        costs = [ItemCost.of_planned(planned) for planned in dataset.planned]
        batches = plan_batches(costs, ModelShape.of_model(loaded_model), config.max_new_tokens, config.batch_size,
                               budget, chosen)  # refused here, before anything is decoded
        largest = max(batches, key=lambda b: b.estimate.total, default=None)
        last_only = sum(b.last_logits_only for b in batches)
        stage("eval", f"{len(dataset)} queries in {len(batches)} batches of at most "
                      f"{max((len(b.indices) for b in batches), default=0)}; the largest needs about "
                      f"{largest.estimate if largest else '0'} of the {budget / 2**30:.1f} GiB budget ({chosen})"
                      + (f"; {last_only} with the last position's logits only" if last_only else "")
                      + "; answering...", config.progress)
        by_id = {f"{q.video_id}|{q.task}|{q.sentence_id}": q for q in todo}
        output.parent.mkdir(parents=True, exist_ok=True)
        bar = progress_bar("eval", len(dataset), unit="queries", progress=config.progress)
        for batch in batches:
            answers = _generate(loaded_model, loaded_processor, settings,
                                [_prompt_item(dataset[i]) for i in batch.indices], config.max_new_tokens,
                                last_logits_only=batch.last_logits_only)
            asked = [by_id[dataset.planned[i].record.id] for i in batch.indices]
            append_log(output, [_entry(q, a, annotations) for q, a in zip(asked, answers)])
            answered += len(asked)
            bar.update(len(asked))
        bar.close()
    scores = score(output, annotations, task=config.task, parse=config.parse) if output.is_file() else \
        Scores(config.parse, ())
    return EvalRun(output, len(queries), answered, sum(q.key in done for q in queries), skipped, scores)
