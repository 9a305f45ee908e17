"""omni_bench.training.loss against transformers' own ForCausalLMLoss on explicitly built logits."""

from __future__ import annotations

import itertools

import pytest
import torch

from omni_bench._torchvision import ensure_torchvision
from omni_bench.training import loss as loss_mod
from omni_bench.training.loss import chunked_linear_cross_entropy, fused_linear_cross_entropy

ensure_torchvision()
from transformers.loss.loss_utils import ForCausalLMLoss  # noqa: E402  (needs ensure_torchvision first)

IGNORE = -100
VOCAB = 1000
HIDDEN = 16


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The tensors here are tiny: one thread is faster, and steady on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_inputs(shape, *, dtype=torch.float32, vocab=VOCAB, bias=False, ignore="random", seed=0):
    """hidden [*shape, H], weight [V, H], optional bias [V], labels [*shape] with ignored positions."""
    gen = torch.Generator().manual_seed(seed)
    hidden = torch.randn(*shape, HIDDEN, generator=gen, dtype=torch.float64).to(dtype)
    weight = (torch.randn(vocab, HIDDEN, generator=gen, dtype=torch.float64) * 0.5).to(dtype)
    b = torch.randn(vocab, generator=gen, dtype=torch.float64).to(dtype) if bias else None
    labels = torch.randint(0, vocab, shape, generator=gen)
    flat = labels.view(-1)
    if ignore == "random":
        flat[torch.rand(flat.shape, generator=gen) < 0.3] = IGNORE
    elif ignore == "all_but_one":
        keep = flat.numel() // 2
        flat[torch.arange(flat.numel()) != keep] = IGNORE
    elif ignore == "all":
        flat[:] = IGNORE
    return hidden, weight, b, labels


def reference(hidden, weight, bias, labels, *, num_items_in_batch=None, shift=True):
    """transformers' loss on the full logits, built here explicitly."""
    logits = hidden @ weight.T
    if bias is not None:
        logits = logits + bias
    vocab = weight.shape[0]
    if shift:
        return ForCausalLMLoss(logits, labels, vocab, num_items_in_batch=num_items_in_batch)
    return ForCausalLMLoss(logits, None, vocab, num_items_in_batch=num_items_in_batch, shift_labels=labels)


def loss_and_grads(fn, hidden, weight, bias, labels, **kwargs):
    """Run fn on fresh leaf copies; return the loss and the grads of (hidden, weight, bias)."""
    leaves = [t.detach().clone().requires_grad_() if t is not None else None for t in (hidden, weight, bias)]
    value = fn(leaves[0], leaves[1], leaves[2], labels, **kwargs)
    value.backward()
    return value.detach(), [t.grad if t is not None else None for t in leaves]


def ours(hidden, weight, bias, labels, **kwargs):
    return chunked_linear_cross_entropy(hidden, weight, labels, bias=bias, **kwargs)


def assert_matches(hidden, weight, bias, labels, *, atol=1e-5, rtol=1e-5, chunk_size=1024, **kwargs):
    ref_loss, ref_grads = loss_and_grads(reference, hidden, weight, bias, labels, **kwargs)
    our_loss, our_grads = loss_and_grads(ours, hidden, weight, bias, labels, chunk_size=chunk_size, **kwargs)
    assert our_loss.dtype == ref_loss.dtype == torch.float32
    torch.testing.assert_close(our_loss, ref_loss, atol=atol, rtol=rtol, equal_nan=True)
    for ours_grad, ref_grad in zip(our_grads, ref_grads):
        if ref_grad is None:
            assert ours_grad is None
            continue
        assert ours_grad.dtype == ref_grad.dtype
        torch.testing.assert_close(ours_grad, ref_grad, atol=atol, rtol=rtol)


# The full grid: shape x dtype x ignored pattern x reduction x shift x chunk_size x bias.
GRID = list(
    itertools.product(
        [(2, 7), (13,)],
        [torch.float32, torch.float64],
        ["random", "all_but_one", "none"],
        [None, 5, "tensor"],
        [True, False],
        [3, 1024],
        [False, True],
    )
)


def _case_id(case) -> str:
    shape, dtype, ignore, num_items, shift, chunk_size, bias = case
    return (
        f"{'x'.join(map(str, shape))}-{str(dtype).removeprefix('torch.')}-ignore_{ignore}-items_{num_items}"
        f"-shift_{shift}-chunk_{chunk_size}-bias_{bias}"
    )


# The fast loop (scripts/test.sh --fast) keeps every 8th case; CI runs all of them.
@pytest.mark.parametrize("shape,dtype,ignore,num_items,shift,chunk_size,bias",
                         [pytest.param(*g, marks=() if i % 8 == 0 else pytest.mark.slow) for i, g in enumerate(GRID)],
                         ids=list(map(_case_id, GRID)))
def test_loss_and_grads_match_transformers(shape, dtype, ignore, num_items, shift, chunk_size, bias):
    hidden, weight, b, labels = make_inputs(shape, dtype=dtype, bias=bias, ignore=ignore)
    if num_items == "tensor":
        num_items = torch.tensor(11)
    assert_matches(
        hidden, weight, b, labels, num_items_in_batch=num_items, shift=shift, chunk_size=chunk_size
    )


@pytest.mark.parametrize("shift", [True, False])
def test_all_but_one_ignored_after_shift(shift):
    hidden, weight, _, _ = make_inputs((2, 5))
    labels = torch.full((2, 5), IGNORE)
    labels[1, 3] = 17  # with shift, predicted by position (1, 2); without, by (1, 3)
    assert_matches(hidden, weight, None, labels, shift=shift, chunk_size=2)


def test_all_ignored_mean_is_nan_with_zero_grads_like_transformers():
    hidden, weight, b, labels = make_inputs((2, 5), bias=True, ignore="all")
    ref_loss, _ = loss_and_grads(reference, hidden, weight, b, labels)
    assert torch.isnan(ref_loss)  # the convention we mirror
    assert_matches(hidden, weight, b, labels)
    _, grads = loss_and_grads(ours, hidden, weight, b, labels)
    assert all(torch.count_nonzero(g) == 0 for g in grads)


@pytest.mark.parametrize("num_items", [4, torch.tensor(4)])
def test_all_ignored_with_num_items_is_zero(num_items):
    hidden, weight, _, labels = make_inputs((9,), ignore="all")
    value = chunked_linear_cross_entropy(hidden, weight, labels, num_items_in_batch=num_items)
    assert value.item() == 0.0
    assert_matches(hidden, weight, None, labels, num_items_in_batch=num_items)


def test_frozen_weight_computes_no_weight_gradient():
    hidden, weight, b, labels = make_inputs((3, 6), bias=True)
    h = hidden.clone().requires_grad_()
    value = chunked_linear_cross_entropy(h, weight, labels, bias=b, chunk_size=4)
    saved_grad_h, saved_grad_w, saved_grad_b = value.grad_fn.grads
    assert saved_grad_w is None and saved_grad_b is None  # nothing V-sized was kept
    assert saved_grad_h is not None
    value.backward()
    assert weight.grad is None and b.grad is None
    h_ref = hidden.clone().requires_grad_()
    reference(h_ref, weight, b, labels).backward()
    torch.testing.assert_close(h.grad, h_ref.grad, atol=1e-5, rtol=1e-5)


def test_hidden_without_grad_only_weight_gradient():
    hidden, weight, _, labels = make_inputs((11,))
    w = weight.clone().requires_grad_()
    value = chunked_linear_cross_entropy(hidden, w, labels, chunk_size=4)
    assert value.grad_fn.grads[0] is None
    value.backward()
    w_ref = weight.clone().requires_grad_()
    reference(hidden, w_ref, None, labels).backward()
    torch.testing.assert_close(w.grad, w_ref.grad, atol=1e-5, rtol=1e-5)


def test_no_grad_mode_computes_no_gradients(monkeypatch):
    hidden, weight, _, labels = make_inputs((2, 7))
    seen = []
    real = loss_mod._chunked_loss_and_grads

    def spy(*args):
        seen.append(args[-1])
        return real(*args)

    monkeypatch.setattr(loss_mod, "_chunked_loss_and_grads", spy)
    with torch.no_grad():
        value = chunked_linear_cross_entropy(hidden.requires_grad_(), weight.requires_grad_(), labels)
    assert seen == [(False, False, False)]
    torch.testing.assert_close(value, reference(hidden, weight, None, labels).detach())


def test_backward_scales_by_incoming_gradient():
    hidden, weight, b, labels = make_inputs((2, 7), bias=True)
    ref_loss, ref_grads = loss_and_grads(lambda *a, **k: 3 * reference(*a, **k), hidden, weight, b, labels)
    our_loss, our_grads = loss_and_grads(lambda *a, **k: 3 * ours(*a, **k), hidden, weight, b, labels)
    torch.testing.assert_close(our_loss, ref_loss)
    for mine, theirs in zip(our_grads, ref_grads):
        torch.testing.assert_close(mine, theirs, atol=1e-5, rtol=1e-5)


def test_second_backward_raises_clearly():
    hidden, weight, _, labels = make_inputs((7,))
    value = chunked_linear_cross_entropy(hidden.requires_grad_(), weight, labels)
    value.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="one backward per forward"):
        value.backward()


def test_bfloat16_inputs():
    hidden, weight, b, labels = make_inputs((4, 9), dtype=torch.bfloat16, bias=True)
    ref_loss, ref_grads = loss_and_grads(reference, hidden, weight, b, labels)
    our_loss, our_grads = loss_and_grads(ours, hidden, weight, b, labels, chunk_size=5)
    torch.testing.assert_close(our_loss, ref_loss, atol=1e-3, rtol=1e-3)
    for mine, theirs in zip(our_grads, ref_grads):
        assert mine.dtype == torch.bfloat16
        scale = theirs.float().abs().max().item()
        torch.testing.assert_close(mine.float(), theirs.float(), atol=2e-2 * scale, rtol=2e-2)


def test_qwen_vocab_tiny_batch():
    hidden, weight, b, labels = make_inputs((2, 3), vocab=151936, bias=True, seed=3)
    # grad_hidden sums 151,936 float32 terms, in a different order on each side: 1e-4 slack.
    assert_matches(hidden, weight, b, labels, chunk_size=2, atol=1e-4, rtol=1e-4)


def test_naive_backend_is_the_transformers_function(monkeypatch):
    hidden, weight, b, labels = make_inputs((2, 7), bias=True)
    direct = ForCausalLMLoss(hidden @ weight.T + b, labels, VOCAB, num_items_in_batch=6)
    via = fused_linear_cross_entropy(hidden, weight, labels, bias=b, num_items_in_batch=6, backend="naive")
    assert torch.equal(via, direct)

    from transformers.loss import loss_utils

    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return ForCausalLMLoss(*args, **kwargs)

    monkeypatch.setattr(loss_utils, "ForCausalLMLoss", spy)
    fused_linear_cross_entropy(hidden, weight, labels, shift=False, backend="naive")
    assert len(calls) == 1 and calls[0]["shift_labels"] is labels


def test_auto_backend_on_cpu_is_chunked(monkeypatch):
    hidden, weight, _, labels = make_inputs((2, 7))
    calls = []
    monkeypatch.setattr(loss_mod, "chunked_linear_cross_entropy", lambda *a, **k: calls.append(k) or 0)
    fused_linear_cross_entropy(hidden, weight, labels, chunk_size=8)
    assert calls and calls[0]["chunk_size"] == 8


def test_bad_arguments_raise():
    hidden, weight, _, labels = make_inputs((2, 7))
    with pytest.raises(ValueError, match="backend"):
        fused_linear_cross_entropy(hidden, weight, labels, backend="fast")
    with pytest.raises(ValueError, match="labels must have shape"):
        chunked_linear_cross_entropy(hidden, weight, labels[:, :-1])
    with pytest.raises(ValueError, match="weight must be"):
        chunked_linear_cross_entropy(hidden, weight[:, :-1], labels)
    with pytest.raises(ValueError, match="labels must be in"):
        chunked_linear_cross_entropy(hidden, weight, torch.full_like(labels, VOCAB))
    with pytest.raises(ValueError, match="CUDA"):
        fused_linear_cross_entropy(hidden, weight, labels, backend="liger")


def test_liger_matches_transformers_on_cuda():
    pytest.importorskip("liger_kernel")
    if not torch.cuda.is_available():
        pytest.skip("Liger-Kernel needs CUDA")
    hidden, weight, b, labels = make_inputs((2, 64), vocab=4096, bias=True)
    hidden, weight, b, labels = (t.cuda() for t in (hidden, weight, b, labels))
    for num_items in (None, 50):

        def liger(h, w, bias, lab, **kwargs):
            return fused_linear_cross_entropy(h, w, lab, bias=bias, backend="liger", **kwargs)

        kwargs = {"num_items_in_batch": num_items}
        ref_loss, ref_grads = loss_and_grads(reference, hidden, weight, b, labels, **kwargs)
        got_loss, got_grads = loss_and_grads(liger, hidden, weight, b, labels, **kwargs)
        torch.testing.assert_close(got_loss, ref_loss, atol=1e-4, rtol=1e-4)
        for mine, theirs in zip(got_grads, ref_grads):
            torch.testing.assert_close(mine, theirs, atol=1e-4, rtol=1e-4)
