"""Tiny models: real transformers classes, real vocabulary size, every path runs on CPU."""

from __future__ import annotations

import pytest
import torch

from omni_bench import tiny_model


@pytest.mark.parametrize("name, vocab, cls", [
    ("qwen2.5-omni-7b", 152064, "Qwen2_5OmniThinkerForConditionalGeneration"),
    ("qwen2.5-omni-3b", 151936, "Qwen2_5OmniThinkerForConditionalGeneration"),
    ("qwen2.5-vl-7b", 152064, "Qwen2_5_VLForConditionalGeneration"),
])
def test_real_class_and_vocabulary(name, vocab, cls):
    model = tiny_model(name)
    assert type(model).__name__ == cls
    assert model.get_output_embeddings().weight.shape[0] == vocab
    assert model.get_input_embeddings().weight.shape[0] == vocab
    assert sum(p.numel() for p in model.parameters()) < 30_000_000


def test_seeded():
    a, b = tiny_model("qwen2.5-omni-7b", seed=1), tiny_model("qwen2.5-omni-7b", seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_text_forward_with_labels_and_generate(omni_processor):
    model = tiny_model("qwen2.5-omni-7b")
    batch = omni_processor.tokenizer(["<|im_start|>user\nHello world<|im_end|>\n<|im_start|>assistant\n"],
                                     return_tensors="pt")
    labels = batch["input_ids"].clone()
    loss = model(**batch, labels=labels).loss
    assert torch.isfinite(loss)
    generated = model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert generated.shape[1] == batch["input_ids"].shape[1] + 3
