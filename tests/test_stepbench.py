"""omni_bench.bench.step at tiny size on CPU: every backend runs a real LoRA training step
(the model prepared as train() prepares it) and they agree on the loss. No timing asserted."""

from __future__ import annotations

import json

import pytest

from omni_bench.bench.step import bench_step, format_bench_step

pytestmark = pytest.mark.slow  # trains or spawns worker processes (seconds to minutes)


@pytest.fixture(scope="module")
def tiny() -> dict:
    return bench_step("qwen2.5-omni-3b", 96, device="cpu", text_dims=False, steps=1, label_fraction=0.5)


def test_result_shape_and_agreement(tiny):
    result = json.loads(json.dumps(tiny))
    assert result["backends"] == ["naive", "chunked"] and result["dtype"] == "float32"
    for name in ("naive", "chunked"):
        row = result[name]
        assert set(row) == {"step_seconds", "peak_mib", "baseline_mib", "loss", "trainable_parameters"}
        assert row["step_seconds"] > 0 and row["baseline_mib"] > 0
        assert 11 < row["loss"] < 13  # random weights over a 151,936-token vocabulary: about ln V = 11.93
    # LoRA r=16 on the 7 projections of 2 tiny layers (hidden 64, intermediate 128, 2 kv heads of 16)
    assert result["naive"]["trainable_parameters"] == result["chunked"]["trainable_parameters"] == 2 * 16 * (
        (64 + 64) + (64 + 32) * 2 + (64 + 64) + (64 + 128) * 2 + (128 + 64))
    assert result["max_loss_diff"] < 1e-5
    assert result["ratio_peak"] is not None and result["ratio_step"] is not None


def test_depth_override_and_text(tiny):
    deeper = bench_step("qwen2.5-omni-3b", 32, device="cpu", text_dims=False, layers=3, steps=1,
                        backends=("chunked",))
    per_layer = tiny["chunked"]["trainable_parameters"] // 2
    assert deeper["chunked"]["trainable_parameters"] == 3 * per_layer
    text = format_bench_step(tiny)
    assert "qwen2.5-omni-3b (tiny dims), 96 tokens, float32 on cpu" in text
    assert "| naive " in text and "| chunked " in text and "chunked / naive: peak" in text


def test_bad_arguments():
    from omni_bench.core.errors import OmniBenchError

    with pytest.raises(OmniBenchError, match="--steps must be a whole number >= 1, got 0"):
        bench_step(tokens=8, device="cpu", steps=0)
    with pytest.raises(ValueError, match="label_fraction"):
        bench_step(tokens=8, device="cpu", label_fraction=2.0)


def test_cli_json(capsys):
    from omni_bench.cli import main

    assert main(["bench", "step", "--tiny", "--tokens", "24", "--layers", "1", "--device", "cpu", "--steps", "1",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["backends"] == ["naive", "chunked"] and out["layers"] == 1 and out["tokens"] == 24
    assert out["max_loss_diff"] < 1e-5


def test_benchmark_script_writes_its_results(tmp_path):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_step.py"
    spec = importlib.util.spec_from_file_location("bench_step_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--device", "cpu", "--tiny", "--tokens", "16", "--layers", "1", "--steps", "1",
                        "--out", str(tmp_path)]) == 0
    saved = json.loads((tmp_path / "step_cpu.json").read_text())
    assert saved["result"]["tokens"] == 16 and saved["machine"]["peft"] not in ("unknown", "not installed")
    assert "| chunked " in (tmp_path / "step_cpu.md").read_text()
