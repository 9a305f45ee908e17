"""GRPO's rollout on tiny models with a real clip: one encode and one prefill per group, rollout = replay.

* against the duplicated path (G prompt rows, each with its media: G videos through the towers, G
  prefills), same seed: the same completions, log-probs within 1e-5, 1 video and 1 audio encoded
  against G, P prefill tokens against G x P (Qwen2.5-Omni with audio in video);
* the replay (the training forward over prompt + completion) computes the very position ids the
  rollout's decoder received and the same log-probs of the sampled tokens within 1e-5, for
  Qwen2.5-Omni (TMRoPE, audio in video), Qwen2.5-VL, Qwen3-VL (timestamps between the frames) and Qwen3-Omni;
* the replay's prefix sharing (the prompt's decoder pass once, the G completions attending to its keys
  and values) equals the G full rows in log-probs and in the LoRA gradients, under gradient
  checkpointing in training mode, and runs P + G x C decoder tokens against G x (P + C);
* media placeholders and vision / audio start-end tokens are never sampled, even where the model
  puts nearly all probability on them;
* a GRPO step from an SFT adapter (``--init-adapter``) at the start: KL 0 against the frozen ``"ref"``
  copy, ratio 1 (nothing clipped), while the base scores the completions otherwise.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from omni_bench import tiny_model
from omni_bench.core.tokens import token_ids
from omni_bench.training.config import GRPOSettings, TrainConfig
from omni_bench.training.grpo import grpo_step, prompt_data
from omni_bench.training.preference_batch import model_parts
from omni_bench.training.prepare import adapt_model
from omni_bench.training.rollout import banned_token_ids, replay, rollout

pytestmark = pytest.mark.slow  # tiny models and a decoded clip

DATA = Path(__file__).resolve().parent.parent / "data"
G = 4


def _prompt(profile: str):
    config = TrainConfig(tiny=True, profile=profile, data=str(DATA / "longvale_grounding.json"),
                         media_root=str(DATA / "clips"), task="grounding", frames=4, resize=(56, 56),
                         method="grpo", progress=False)
    dataset, collator = prompt_data(config, config.data)
    return collator([dataset[0]]), dataset.sft.processor


@pytest.fixture(scope="module")
def omni():
    batch, processor = _prompt("qwen2.5-omni-7b")
    assert batch["use_audio_in_video"] is True and batch["input_features"] is not None  # audio in video
    model = tiny_model("qwen2.5-omni-7b").eval()
    return model, batch, processor


def _kwargs(processor, **extra):
    ids = token_ids(processor)
    return dict(num_generations=G, max_completion_length=8, end_ids=(ids.im_end,), banned=banned_token_ids(ids),
                pad_id=ids.pad, **extra)


def test_one_encode_one_prefill_equals_duplicated(omni):
    model, batch, processor = omni
    ours = rollout(model, batch, generator=torch.Generator().manual_seed(0), **_kwargs(processor))
    dup = rollout(model, batch, generator=torch.Generator().manual_seed(0), shared=False, **_kwargs(processor))
    assert torch.equal(ours.completion_ids, dup.completion_ids)
    assert len(set(map(tuple, ours.completion_ids.tolist()))) > 1  # G different samples, not one repeated
    assert float((ours.logps - dup.logps).abs().max()) <= 1e-5
    assert ours.counts == {"vision": 1, "audio": 1} and dup.counts == {"vision": G, "audio": G}
    P = batch["input_ids"].shape[1]
    assert ours.prefill_tokens == P and dup.prefill_tokens == G * P
    torch.testing.assert_close(ours.position_ids, dup.position_ids, rtol=0, atol=0)


@pytest.mark.parametrize("profile", ["qwen2.5-omni-7b", "qwen2.5-vl-7b", "qwen3-vl-8b", "qwen3-omni-30b-a3b"])
def test_rollout_equals_replay(profile, omni):
    if profile == "qwen2.5-omni-7b":
        model, batch, processor = omni
    else:
        batch, processor = _prompt(profile)
        model = tiny_model(profile).eval()
    done = rollout(model, batch, generator=torch.Generator().manual_seed(1), **_kwargs(processor, temperature=0.7))
    with torch.no_grad():
        _, parity = replay(model, batch, done, temperature=0.7, audit=True)
    assert parity.checked == int(done.completion_mask.sum()) > 0
    assert parity.position_ids_equal
    assert parity.max_logprob_diff <= 1e-5
    assert batch["pixel_values_videos"] is not None and done.position_ids.dim() == 3  # a video, mRoPE positions
    P = batch["input_ids"].shape[1]
    assert not torch.equal(done.position_ids[0, 0, :P], torch.arange(P))  # the media's are not the token index


def test_media_tokens_never_sampled(omni):
    model, batch, processor = omni
    ids = token_ids(processor)
    banned = banned_token_ids(ids)
    base, _ = model_parts(model)
    head = base.get_output_embeddings()
    lure = torch.zeros(head.weight.shape[0])
    lure[banned] = 50.0  # nearly all probability on the placeholders and start-end tokens

    original = base.get_output_embeddings
    base.get_output_embeddings = lambda: (lambda h: head(h) + lure)
    try:
        done = rollout(model, batch, generator=torch.Generator().manual_seed(0), **_kwargs(processor))
        unguarded = rollout(model, batch, generator=torch.Generator().manual_seed(0),
                            **{**_kwargs(processor), "banned": ()})
    finally:
        base.get_output_embeddings = original
    assert not torch.isin(done.completion_ids, torch.tensor(banned)).any()
    assert torch.isin(unguarded.completion_ids, torch.tensor(banned)).any()  # the lure works without the mask


def test_reference_after_sft_kl_zero_ratio_one(omni, tmp_path):
    _, batch, processor = omni
    sft = adapt_model(tiny_model("qwen2.5-omni-7b"), lora_r=4, lora_alpha=8, lora_dropout=0.0)
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in sft.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)  # an adapter far from zero, as an SFT run leaves it
    sft.save_pretrained(str(tmp_path))
    model = adapt_model(tiny_model("qwen2.5-omni-7b"), lora_r=4, lora_alpha=8, lora_dropout=0.0,
                        init_adapter=str(tmp_path))
    settings = GRPOSettings(num_generations=G, max_completion_length=6, grpo_beta=0.04)
    loss, metrics, done, _ = grpo_step(model, batch, settings, processor, generator=torch.Generator().manual_seed(0))
    assert metrics["kl"] == 0.0 and metrics["clip_ratio"] == 0.0
    assert metrics["parity/position_ids_equal"] == 1.0 and metrics["parity/max_logprob_diff"] <= 1e-5
    loss.backward()
    trained = [p.grad for n, p in model.named_parameters() if p.requires_grad and p.grad is not None]
    assert trained and not any(".ref." in n for n, p in model.named_parameters() if p.requires_grad)
    with torch.no_grad(), model.disable_adapter():  # the base scores the completions otherwise: not the reference
        base_logps, _ = replay(model, batch, done)
    with torch.no_grad():
        policy_logps, _ = replay(model, batch, done)
    valid = done.completion_mask.bool()
    assert float((base_logps - policy_logps)[valid].abs().max()) > 1e-3


def test_prefix_shared_replay_equals_full_rows(omni):
    _, batch, processor = omni
    model = adapt_model(tiny_model("qwen2.5-omni-7b"), lora_r=4, lora_alpha=8, lora_dropout=0.0)  # checkpointed
    torch.manual_seed(2)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.3)  # an adapter far from zero: LoRA shapes the prompt's keys and values
    done = rollout(model.eval(), batch, generator=torch.Generator().manual_seed(3),
                   **_kwargs(processor, temperature=0.7))
    _, inner = model_parts(model)
    model.train()
    found = {}
    for shared in (True, False):
        tokens = []
        handle = inner.language_model.layers[0].register_forward_pre_hook(  # the decoder's tokens, as they run
            lambda module, args, tokens=tokens: tokens.append(args[0].shape[:2].numel()))
        try:
            logps, parity = replay(model, batch, done, temperature=0.7, audit=True, shared=shared)
        finally:
            handle.remove()
        model.zero_grad()
        (logps * done.completion_mask * torch.linspace(-1, 1, logps.shape[1])).sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        found[shared] = logps.detach(), grads, parity, sum(tokens)
    (ours, ours_grads, ours_parity, ours_tokens), (dup, dup_grads, _, dup_tokens) = found[True], found[False]
    valid = done.completion_mask.bool()
    assert float((ours - dup)[valid].abs().max()) <= 1e-5
    assert ours_parity.position_ids_equal and ours_parity.max_logprob_diff <= 1e-5
    assert set(ours_grads) == set(dup_grads) and any("layers.0.self_attn.k_proj.lora_B" in n for n in ours_grads)
    for name, grad in dup_grads.items():
        assert grad.abs().max() > 0, name
        # float32 sums taken in another order: the error scales with the tensor's largest entries (1.5e-6 to
        # 1.7e-6 of max |grad| on an AVX-512 CPU, its portable kernels included), not with each entry's size
        torch.testing.assert_close(ours_grads[name], grad, rtol=1e-4, atol=1e-5 * float(grad.abs().max()))
    P, (rows, C) = batch["input_ids"].shape[1], done.completion_ids.shape
    assert ours_tokens == P + rows * C and dup_tokens == rows * (P + C)
