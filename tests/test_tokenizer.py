"""The embedded tokenizer equals the real Qwen2 BPE: ids checked against tiktoken on the same ranks."""

from __future__ import annotations

import random
import unicodedata

import pytest

from omni_bench.core.processor import vocabulary_path
from omni_bench.core.profiles import OMNI_SPECIAL_TOKENS, VL_SPECIAL_TOKENS

# Qwen's pre-tokenisation pattern (the one its tiktoken-based tokenizer and Qwen2Tokenizer use).
QWEN_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
                r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")


@pytest.fixture(scope="module")
def reference():
    """A tiktoken Encoding over the same rank file: the reference BPE."""
    tiktoken = pytest.importorskip("tiktoken")
    from tiktoken.load import load_tiktoken_bpe

    ranks = load_tiktoken_bpe(str(vocabulary_path()))
    return tiktoken.Encoding("qwen-reference", pat_str=QWEN_PATTERN, mergeable_ranks=ranks, special_tokens={})


def test_known_ids(omni_processor):
    tok = omni_processor.tokenizer
    assert tok("Hello world").input_ids == [9707, 1879]
    assert tok.encode("assistant", add_special_tokens=False) == [77091]
    expected = {"<|im_start|>": 151644, "<|im_end|>": 151645, "<|AUDIO|>": 151646, "<|vision_bos|>": 151652,
                "<|VIDEO|>": 151656, "<|endoftext|>": 151643}
    assert {t: tok.convert_tokens_to_ids(t) for t in expected} == expected


@pytest.mark.parametrize("name, table", [("omni", OMNI_SPECIAL_TOKENS), ("vl", VL_SPECIAL_TOKENS)])
def test_every_special_token_at_its_id(name, table, omni_processor, vl_processor):
    tok = (omni_processor if name == "omni" else vl_processor).tokenizer
    assert sorted(table.values()) == list(range(151643, 151665))
    assert {t: tok.convert_tokens_to_ids(t) for t in table} == table
    assert len(tok) == 151665
    for token, i in table.items():  # a special token inside text stays one token
        assert tok.encode(f"a{token}b", add_special_tokens=False) == [64, i, 65]


def test_vocabulary_size(reference):
    assert reference.n_vocab == 151643


def _corpus(seed: int = 0, n: int = 300) -> list[str]:
    rng = random.Random(seed)
    pieces = ["Hello world", " world", "assistant", "\n\n", "  indented\tcode()", "1234567890", "3.14159",
              "From 83.1% to 85.0%.", "我们来看一下这个视频。", "日本語のテキスト", "Ünïcödé naïve café",
              "emoji 🎬🎧 ok", "def f(x):\n    return x ** 2\n", "I'm here, you're there, they'll go",
              "<s0> to <e0>", "   ", "\r\n", "a\u0301", "ＡＢＣ", "--==>>", "\u00a0nbsp"]
    out = list(pieces)
    alphabet = [chr(c) for c in list(range(32, 127)) + list(range(0x4e00, 0x4e40)) + [0x3002, 0xff0c, 0x1f600]]
    for _ in range(n):
        k = rng.randint(1, 40)
        out.append("".join(rng.choice(alphabet + pieces[:6]) for _ in range(k)))
    return out


def test_ids_equal_tiktoken_reference(omni_processor, reference):
    tok = omni_processor.tokenizer
    for text in _corpus():
        # Qwen2's tokenizer normalises to NFC before BPE; tiktoken does not normalise.
        expected = reference.encode(unicodedata.normalize("NFC", text))
        assert tok.encode(text, add_special_tokens=False) == expected, text


def test_decode_round_trip(omni_processor):
    tok = omni_processor.tokenizer
    for text in _corpus(seed=1, n=50):
        normal = unicodedata.normalize("NFC", text)
        assert tok.decode(tok.encode(text, add_special_tokens=False)) == normal
