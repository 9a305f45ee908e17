"""Preference pairs for DPO (``omni-bench pairs``): two replies to one LongVALE question, the
better one chosen, both scored by the project's own scorer.

The questions are :func:`omni_bench.eval.prompts.make_queries`' (``training`` prompts by default:
the questions ``omni-bench train`` teaches, so pairs continue an SFT run; ``longvale`` for
LongVALE ``eval.py``'s). Two sources:

``offline`` (no model; grounding only)
    The annotation's true span against controlled wrong spans, every reply in the exact form the
    training records and LongVALE's parser use (``"From 00 to 30."``, two-digit relative times,
    :func:`omni_bench.data.records.render_time`): ``shifted`` (the true span moved later by
    ``shift`` of the video, earlier where it would leave the video), ``other`` (each other event
    of the same video), ``whole`` (the whole video, ``"From 00 to 99."``). Each reply's IoU is
    LongVALE's (:func:`answer_iou`: the reply parsed as ``eval score`` parses it), recorded with
    the pair.

``on-policy`` (``tiny``, ``model`` or ``adapter``; the default when one is given)
    ``num_generations`` replies per question sampled from the model (``temperature``, ``top_p``,
    seeded), on ``eval run``'s road: the same one-turn records, frame sampling, processor call,
    prompt cut and left-padded ``generate`` (:mod:`omni_bench.eval.run`). Each reply is scored:
    IoU for grounding, METEOR or CIDEr for captions (:func:`reply_scores`). The best reply
    against the worst makes a pair when their scores differ by at least ``min_margin``;
    otherwise the question is skipped, with its reason. Before anything is decoded, each generate
    call of ``batch_size`` questions x K replies is estimated from the plan and shrunk to fit
    ``max_memory`` (:func:`omni_bench.eval.memory.plan_batches` with ``repeats`` = K, as ``eval run``
    plans its batches), or the run is refused in one line naming the question and the fix.

Pairs are written in LLaMA-Factory's sharegpt preference form
(:func:`omni_bench.data.preference.write_pairs`), video paths relative to the media root.

Left out: several pairs per question on-policy (best against worst only), offline pairs for the
captioning tasks (a wrong caption needs a controlled notion of "how wrong"), audio files beside
the video (the audio comes from the video's own track, as in training), reward models.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from omni_bench.core.errors import OmniBenchError
from omni_bench.core.profiles import DEFAULT_PROFILE
from omni_bench.core.stages import stage
from omni_bench.data.preference import PreferencePair, write_pairs
from omni_bench.data.records import GROUNDING_REPLY, render_time, resolve_media
from omni_bench.eval.answers import PARSE_MODES, parse_events, parse_span
from omni_bench.eval.coco import cider, meteor, ptb_tokenize
from omni_bench.eval.dense import dense_scores, merge_events
from omni_bench.eval.grounding import predicted_fraction, span_iou, true_fraction
from omni_bench.eval.log import LOG_TASKS, load_eval_annotations
from omni_bench.eval.memory import ItemCost, ModelShape, memory_budget, parse_size, plan_batches
from omni_bench.eval.prompts import PROMPT_STYLES, Query, make_queries
from omni_bench.eval.run import EvalConfig, _generate, _load_model, _prompt_item, _records, _settings

__all__ = ["PairsConfig", "ScoredPair", "PairsRun", "build_pairs", "answer_iou", "reply_scores", "offline_pairs",
           "well_formed", "PAIR_SOURCES", "WRONG_SPANS", "METRICS"]

PAIR_SOURCES = ("auto", "offline", "on-policy")  # auto: on-policy when a model is given, else offline
WRONG_SPANS = ("shifted", "other", "whole")  # the offline rejected replies
# The grounding answer form of the training records ("From 00 to 30."): two-digit relative times.
_REPLY_FORM = re.compile(re.escape(GROUNDING_REPLY).replace(r"\{start\}", r"\d\d").replace(r"\{end\}", r"\d\d"))
METRICS = {"grounding": ("iou",), "captioning": ("METEOR", "CIDEr", "soda_c"),
           "seg_captioning": ("METEOR", "CIDEr")}  # what scores a reply, per task (the first: the default)


@dataclass(frozen=True)
class PairsConfig:
    """What ``omni-bench pairs`` is asked to build; its flags map 1:1."""

    annotations: str | None = None  # --annotations ANN: LongVALE annotations {video_id: {duration, timestamps,
        # sentences}}
    media_root: str | None = None  # --media-root DIR: the videos, <video_id>.mp4 etc. (None: ANN's folder)
    output: str = "runs/pairs.json"  # --output FILE: the pair file (LLaMA-Factory's sharegpt preference form)
    task: str = "grounding"  # --task: grounding | captioning | seg_captioning
    prompts: str = "training"  # --prompts: training (omni-bench train's questions, what an SFT run learned)
        # | longvale (LongVALE eval.py's)
    source: str = "auto"  # --source: auto (on-policy when --tiny, --model or --adapter is given, else offline)
        # | offline | on-policy
    wrong: tuple[str, ...] = WRONG_SPANS  # --wrong a,b: offline rejected spans: shifted, other, whole
    shift: float = 0.25  # --shift X: offline "shifted" moves the true span by X of the video
    profile: str = DEFAULT_PROFILE  # --profile NAME: processor profile (and the tiny model's shape)
    tiny: bool = False  # --tiny: the profile's random-init tiny model, seeded with --seed
    model: str | None = None  # --model PATH: a checkpoint directory (weights + processor)
    adapter: str | None = None  # --adapter RUN_DIR: a training run: its base model, adapter and sampling
    seed: int = 0  # --seed: the sampling seed (and the tiny model's init seed with --tiny)
    num_generations: int = 8  # --num-generations K: replies sampled per question (trl's name)
    temperature: float = 0.5  # --temperature X: sampling temperature of the on-policy replies
    top_p: float = 1.0  # --top-p X: nucleus sampling of the on-policy replies (1: off)
    max_new_tokens: int = 16  # --max-new-tokens N: reply length ("From 00 to 30." is 9 tokens)
    batch_size: int = 4  # --batch-size N: questions per generate call (each asked K times)
    max_memory: str | None = None  # --max-memory SIZE: memory a generate call of questions x K replies may take,
        # e.g. 8GiB (None: 25% of the memory available); batches are shrunk to fit it, a question that alone
        # does not is refused
    metric: str | None = None  # --metric: what scores a reply: iou (grounding), METEOR | CIDEr (captions),
        # soda_c (dense captions); None: the task's first
    min_margin: float = 0.3  # --min-margin X: a pair is kept when the chosen score beats the rejected by >= X
    parse: str = "longvale"  # --parse: longvale | lenient (how replies are read, as eval score reads them)
    strict_format: bool = True  # --no-strict-format: score sampled grounding replies as eval score does; by default
        # a reply that is not exactly the answer form ("From 00 to 30.") scores 0 (a format reward, as R1-style
        # grounding recipes add one), so a chosen reply never teaches a malformed answer
    progress: bool = True  # --no-progress hides the stage lines
    sampling: Mapping | None = None  # frame sampling / size fields of eval run (frames, resize, use_audio, ...);
        # None: the run's, or the defaults

    def __post_init__(self):
        def bad(message: str):
            raise OmniBenchError(message, reason="bad-settings")

        if not self.annotations:
            bad("pass --annotations ANN (LongVALE annotations)")
        if self.task not in LOG_TASKS:
            bad(f"--task must be one of {', '.join(LOG_TASKS)}, got {self.task!r}")
        for name, known in (("prompts", PROMPT_STYLES), ("source", PAIR_SOURCES), ("parse", PARSE_MODES)):
            if getattr(self, name) not in known:
                bad(f"--{name} must be one of {', '.join(known)}, got {getattr(self, name)!r}")
        if sum(bool(x) for x in (self.tiny, self.model, self.adapter)) > 1:
            bad("pass at most one of --tiny (with --profile), --model PATH or --adapter RUN_DIR")
        if self.on_policy and not (self.tiny or self.model or self.adapter):
            bad("on-policy pairs sample a model: pass --tiny, --model PATH or --adapter RUN_DIR")
        if not self.on_policy and self.task != "grounding":
            bad(f"offline pairs are built for --task grounding only; sample {self.task} pairs from a model "
                "(--adapter RUN_DIR, --model PATH or --tiny)")
        unknown = sorted(set(self.wrong) - set(WRONG_SPANS))
        if unknown or not self.wrong:
            bad(f"--wrong takes some of {', '.join(WRONG_SPANS)}, got {','.join(self.wrong) or 'nothing'}")
        if self.metric is not None and self.metric not in METRICS[self.task]:
            bad(f"--metric for {self.task} must be one of {', '.join(METRICS[self.task])}, got {self.metric!r}")
        for name in ("num_generations", "max_new_tokens", "batch_size"):
            if getattr(self, name) < 1:
                bad(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.num_generations < 2 and self.on_policy:
            bad(f"--num-generations must be >= 2 to have a best and a worst reply, got {self.num_generations}")
        if not 0 < self.temperature <= 100 or not 0 < self.top_p <= 1:
            bad(f"--temperature must be > 0 and --top-p in (0, 1], got {self.temperature} and {self.top_p}")
        if not 0 < self.shift < 1 or self.min_margin < 0:
            bad(f"--shift must be in (0, 1) and --min-margin >= 0, got {self.shift} and {self.min_margin}")
        if self.max_memory is not None:
            parse_size(self.max_memory)  # a size such as 8GiB, or one clear line

    @property
    def on_policy(self) -> bool:
        """Whether replies are sampled from a model (else built from the annotations)."""
        return self.source == "on-policy" or (self.source == "auto" and bool(self.tiny or self.model or self.adapter))

    @property
    def scored_by(self) -> str:
        """The metric that scores a reply."""
        return self.metric or METRICS[self.task][0]

    def replace(self, **changes) -> PairsConfig:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ScoredPair:
    """One question with its chosen and rejected replies and their scores."""

    query: Query  # the question (its video, task, event and human turn)
    video: str  # the video file (written relative to the media root)
    chosen: str  # the better reply
    rejected: str  # the worse reply
    chosen_score: float  # its score (IoU for grounding; METEOR / CIDEr for captions)
    rejected_score: float
    kind: str  # how the rejected reply was made: shifted | other | whole (offline) | sampled (on-policy)

    @property
    def margin(self) -> float:
        return self.chosen_score - self.rejected_score

    def to_dict(self) -> dict:
        return {"video_id": self.query.video_id, "sentence_id": self.query.sentence_id, "video": self.video,
                "prompt": self.query.text, "chosen": self.chosen, "rejected": self.rejected,
                "chosen_score": self.chosen_score, "rejected_score": self.rejected_score, "kind": self.kind}


@dataclass(frozen=True)
class PairsRun:
    """What :func:`build_pairs` did: the pairs written and the questions skipped, with reasons."""

    output: Path  # the pair file
    source: str  # offline | on-policy
    task: str
    metric: str  # what scored the replies
    questions: int  # questions asked (or, offline, questions with a true span)
    pairs: tuple[ScoredPair, ...]  # the pairs written
    skipped: tuple[tuple[str, str, str], ...]  # (question or video, reason, message) left without a pair

    def counts(self) -> dict:
        """Skipped questions per reason."""
        return dict(Counter(reason for _, reason, _ in self.skipped))

    def to_dict(self) -> dict:
        mean = (lambda values: sum(values) / len(values) if values else None)  # noqa: E731
        return {"output": str(self.output), "source": self.source, "task": self.task, "metric": self.metric,
                "questions": self.questions, "kept": len(self.pairs), "skipped": self.counts(),
                "chosen_score": mean([p.chosen_score for p in self.pairs]),
                "rejected_score": mean([p.rejected_score for p in self.pairs]),
                "margin": mean([p.margin for p in self.pairs]),
                "kinds": dict(Counter(p.kind for p in self.pairs)),
                "skipped_questions": [{"question": q, "reason": r, "message": m} for q, r, m in self.skipped],
                "pairs": [p.to_dict() for p in self.pairs]}

    def __str__(self) -> str:
        summary = self.to_dict()
        lines = [f"{self.output}: {summary['kept']} {self.source} {self.task} pairs from {self.questions} "
                 f"questions (scored by {self.metric})"]
        if self.pairs:
            lines.append(f"  mean {self.metric}: chosen {summary['chosen_score']:.3f}, rejected "
                         f"{summary['rejected_score']:.3f}, margin {summary['margin']:.3f}; rejected kinds "
                         + ", ".join(f"{k} {n}" for k, n in summary["kinds"].items()))
        if self.skipped:
            lines.append("  skipped: " + ", ".join(f"{n} {reason}" for reason, n in self.counts().items()))
            lines += [f"    {q}: {m}" for q, _, m in self.skipped[:5]]
        return "\n".join(lines)


def answer_iou(answer: str, timestamps: Sequence[float], duration: float, parse: str = "longvale") -> float:
    """LongVALE's IoU of a grounding reply against an event, as ``eval score`` computes it.

    >>> answer_iou("From 00 to 30.", [0.0, 2.4], 8.0), answer_iou("From 30 to 70.", [0.0, 2.4], 8.0)
    (1.0, 0.0)
    >>> answer_iou("From 00 to 99.", [0.0, 2.4], 8.0), answer_iou("no span", [0.0, 2.4], 8.0)
    (0.3, 0.0)
    """
    return span_iou(predicted_fraction(parse_span(answer, parse), duration), true_fraction(timestamps, duration))


def _span_reply(start: float, end: float, duration: float) -> str:
    """A grounding reply as the training records write it: ``"From 40 to 60."``."""
    return GROUNDING_REPLY.format(start=render_time(start, duration), end=render_time(end, duration))


def _wrong_spans(video: Mapping, sentence_id: int, kinds: Sequence[str], shift: float) -> list[tuple[str, str]]:
    """(kind, reply) of the controlled wrong spans for one event, in the order of ``kinds``."""
    duration = video["duration"]
    start, end = video["timestamps"][sentence_id]
    out = []
    for kind in kinds:
        if kind == "shifted":
            moved = shift * duration if end + shift * duration <= duration else -shift * duration
            out.append((kind, _span_reply(max(0.0, start + moved), max(0.0, end + moved), duration)))
        elif kind == "other":
            out += [(kind, _span_reply(*span, duration)) for k, span in enumerate(video["timestamps"])
                    if k != sentence_id]
        else:
            out.append((kind, _span_reply(0.0, duration, duration)))
    return out


def _video_path(video_id: str, media_root: str | os.PathLike) -> str:
    """The video file of an annotation id under the media root (``data/clips/v.mkv``)."""
    return str(resolve_media(video_id, media_root))


def offline_pairs(annotations: Mapping[str, Mapping], queries: Sequence[Query], *, media_root: str | os.PathLike = ".",
                  wrong: Sequence[str] = WRONG_SPANS, shift: float = 0.25, min_margin: float = 0.0,
                  parse: str = "longvale") -> tuple[list[ScoredPair], list[tuple[str, str, str]]]:
    """The true span of each grounding query against each wrong span that scores ``min_margin`` below it.

    >>> ann = {"v": {"duration": 8.0, "timestamps": [[0.0, 2.4], [2.4, 8.0]], "sentences": ["A.", "B."]}}
    >>> pairs, _ = offline_pairs(ann, make_queries(ann, "grounding", "training")[:1])
    >>> [(p.chosen, p.rejected, p.rejected_score, p.kind) for p in pairs]   # doctest: +NORMALIZE_WHITESPACE
    [('From 00 to 30.', 'From 25 to 55.', 0.09, 'shifted'), ('From 00 to 30.', 'From 30 to 99.', 0.0, 'other'),
     ('From 00 to 30.', 'From 00 to 99.', 0.3, 'whole')]
    """
    pairs, skipped = [], []
    for query in queries:
        video = annotations[query.video_id]
        stamps = video["timestamps"][query.sentence_id]
        chosen = _span_reply(*stamps, video["duration"])
        chosen_iou = answer_iou(chosen, stamps, video["duration"], parse)
        name = _video_path(query.video_id, media_root)
        seen = {chosen}
        for kind, reply in _wrong_spans(video, query.sentence_id, wrong, shift):
            where = f"{query.video_id}#{query.sentence_id} {kind}"
            iou = answer_iou(reply, stamps, video["duration"], parse)
            if reply in seen:
                skipped.append((where, "same-reply", f"{reply!r} is the chosen reply or an earlier rejected one"))
            elif chosen_iou - iou < min_margin:
                skipped.append((where, "margin", f"IoU {chosen_iou:.2f} vs {iou:.2f}: margin below {min_margin}"))
            else:
                pairs.append(ScoredPair(query, name, chosen, reply, chosen_iou, iou, kind))
            seen.add(reply)
    return pairs, skipped


def well_formed(reply: str) -> bool:
    """Whether a grounding reply is exactly the answer form the training records use.

    >>> well_formed("From 00 to 30."), well_formed("From 00 to 30 to 70."), well_formed("From 40 to 999999.")
    (True, False, False)
    """
    return _REPLY_FORM.fullmatch(reply.strip()) is not None


def reply_scores(task: str, metric: str, query: Query, replies: Sequence[str], annotations: Mapping,
                 parse: str = "longvale", strict_format: bool = False) -> list[float]:
    """Each reply's score against the question's truth, by the project's scorers.

    grounding: LongVALE's IoU (:func:`answer_iou`), 0 for a reply that is not :func:`well_formed`
    when ``strict_format``; seg_captioning: METEOR or CIDEr-D of the reply
    against the event's caption (PTB-tokenized, as ``eval score`` scores captions; CIDEr's document
    frequencies from these K references); captioning: the reply's dense-captioning ``METEOR``,
    ``CIDEr`` or ``soda_c`` for its video (:func:`omni_bench.eval.dense.dense_scores`).
    """
    video = annotations[query.video_id]
    if task == "grounding":
        stamps = video["timestamps"][query.sentence_id]
        return [answer_iou(reply, stamps, video["duration"], parse) if well_formed(reply) or not strict_format else 0.0
                for reply in replies]
    if task == "seg_captioning":
        hyps = ptb_tokenize({k: [reply] for k, reply in enumerate(replies)})
        refs = ptb_tokenize({k: [video["sentences"][query.sentence_id]] for k in range(len(replies))})
        return [float(s) for s in (meteor if metric == "METEOR" else cider)(refs, hyps)[1]]
    truth = {query.video_id: video}
    return [dense_scores({query.video_id: merge_events(parse_events(reply, parse), video["duration"])},
                         truth)[metric] for reply in replies]


def _sampled_pairs(config: PairsConfig, annotations: Mapping, queries: list[Query], model=None, processor=None):
    """On-policy: K sampled replies per query, scored; best against worst where the margin passes."""
    import torch

    from omni_bench.data.dataset import OmniSFTDataset
    eval_config = EvalConfig(annotations=config.annotations, media_root=config.media_root, profile=config.profile,
                             tiny=config.tiny, model=config.model, adapter=config.adapter, seed=config.seed,
                             task=config.task, prompts=config.prompts, max_new_tokens=config.max_new_tokens,
                             **dict(config.sampling or {}))
    settings = _settings(eval_config)
    if model is None:
        stage("pairs", "loading the model", config.progress)
        model, processor = _load_model(eval_config)
    dataset = OmniSFTDataset(_records(queries, annotations), media_root=_media_root(config), settings=settings,
                             processor=processor)
    skipped = [(p.source, p.reason, p.message) for p in dataset.dropped]
    by_id = {f"{q.video_id}|{q.task}|{q.sentence_id}": q for q in queries}
    k, pairs = config.num_generations, []
    sampling = {"do_sample": True, "temperature": config.temperature, "top_p": config.top_p, "top_k": 0}
    batches = _planned_batches(config, dataset, model)  # refused here, before anything is decoded
    torch.manual_seed(config.seed)
    for batch in batches:
        indices = batch.indices
        stage("pairs", f"sampling {k} replies to questions {indices[0] + 1}-{indices[-1] + 1} of {len(dataset)}",
              config.progress)
        items = [_prompt_item(dataset[i]) for i in indices for _ in range(k)]
        replies = _generate(model, processor, settings, items, config.max_new_tokens,
                            last_logits_only=batch.last_logits_only, **sampling)
        for n, i in enumerate(indices):
            query, mine = by_id[dataset.planned[i].record.id], replies[n * k:(n + 1) * k]
            scores = reply_scores(config.task, config.scored_by, query, mine, annotations, config.parse,
                                  config.strict_format)
            best, worst = max(range(k), key=scores.__getitem__), min(range(k), key=scores.__getitem__)
            where = f"{query.video_id}#{query.sentence_id}" if query.sentence_id is not None else query.video_id
            if scores[best] - scores[worst] < config.min_margin or mine[best] == mine[worst]:
                skipped.append((where, "margin", f"{config.scored_by} of {k} replies {min(scores):.2f}-"
                                                 f"{max(scores):.2f}: margin below {config.min_margin}"))
                continue
            pairs.append(ScoredPair(query, dataset.planned[i].video, mine[best], mine[worst], scores[best],
                                    scores[worst], "sampled"))
    return pairs, skipped


def _planned_batches(config: PairsConfig, dataset, model) -> list:
    """The generate calls of :func:`_sampled_pairs`: ``batch_size`` questions x K rows each, shrunk to the budget."""
    budget, chosen = memory_budget(config.max_memory)
    costs = [ItemCost.of_planned(planned) for planned in dataset.planned]
    batches = plan_batches(costs, ModelShape.of_model(model), config.max_new_tokens, config.batch_size, budget,
                           chosen, repeats=config.num_generations,
                           fix="lower --num-generations, --fps / --frames or --max-pixels")
    largest = max(batches, key=lambda b: b.estimate.total, default=None)
    stage("pairs", f"{len(dataset)} questions x {config.num_generations} replies in {len(batches)} batches of at most "
                   f"{max((len(b.indices) for b in batches), default=0)} questions; the largest needs about "
                   f"{largest.estimate if largest else '0'} of the {budget / 2**30:.1f} GiB budget ({chosen})",
          config.progress)
    return batches


def build_pairs(config: PairsConfig | None = None, *, model=None, processor=None, **fields) -> PairsRun:
    """Build the pairs ``config`` asks for, write them to ``config.output`` and say what was kept.

    ``model`` / ``processor``: an already loaded model (then ``tiny``/``model``/``adapter`` only
    say which sampling settings apply, the run's with ``adapter``).

    >>> run = build_pairs(annotations="data/longvale_grounding.json", output="runs/pairs.json")  # doctest: +SKIP
    >>> len(run.pairs), run.counts()                                                            # doctest: +SKIP
    """
    config = config.replace(**fields) if config is not None else PairsConfig(**fields)
    annotations = load_eval_annotations(config.annotations)
    queries = make_queries(annotations, config.task, config.prompts)
    media_root = _media_root(config)
    if config.on_policy:
        pairs, skipped = _sampled_pairs(config, annotations, queries, model, processor)
    else:
        pairs, skipped = offline_pairs(annotations, queries, media_root=media_root, wrong=config.wrong,
                                       shift=config.shift, min_margin=config.min_margin, parse=config.parse)
    stage("pairs", f"writing {len(pairs)} pairs to {config.output}", config.progress)
    output = Path(config.output)
    write_pairs(output, _preference_pairs(pairs, config.scored_by), media_root=media_root)
    return PairsRun(output, "on-policy" if config.on_policy else "offline", config.task, config.scored_by,
                    len(queries), tuple(pairs), tuple(skipped))


def _media_root(config: PairsConfig) -> str:
    return config.media_root if config.media_root is not None else str(Path(config.annotations).parent)


def _preference_pairs(pairs: Sequence[ScoredPair], metric: str) -> list:
    """The pairs as :class:`~omni_bench.data.preference.PreferencePair` s, each with its scores and where it
    came from kept beside it (``chosen_iou`` / ``rejected_iou``, ``kind``, ``video_id``, ``sentence_id``)."""
    out, count = [], Counter()
    for pair in pairs:
        query = pair.query
        ident = query.video_id if query.sentence_id is None else f"{query.video_id}#{query.sentence_id}"
        count[ident] += 1
        extra = {f"chosen_{metric}": pair.chosen_score, f"rejected_{metric}": pair.rejected_score, "kind": pair.kind,
                 "video_id": query.video_id, "sentence_id": query.sentence_id}
        out.append(PreferencePair(len(out), f"{ident}/{count[ident]}", (("human", query.text),), pair.chosen,
                                  pair.rejected, videos=(pair.video,), extra=extra))
    return out
