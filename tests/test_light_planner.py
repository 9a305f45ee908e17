"""The planner's light processor (omni_bench.core.light) equals transformers' tokenizer and chat template.

``load_planner`` reads ``tokenizer.json`` with the ``tokenizers`` library and renders the
chat template with jinja2 (omni_bench.core.chat_template), importing neither torch nor
transformers. Here, for the template of every profile: the rendered text equals
``processor.apply_chat_template`` and the ids equal ``processor.tokenizer`` on varied
conversations (system prompts, several turns, video + audio, images, image_url blocks,
unicode, reasoning, tools, add_generation_prompt both ways); the named special tokens and
the structural ids agree; a checkpoint directory (no omni_bench marker) goes the light way
too; and ``plan`` / ``budget`` / ``samplers`` and the error paths of the CLI, each in a fresh
interpreter, end with neither torch nor transformers in ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from omni_bench.core.light import LightProcessor, load_planner
from omni_bench.core.processor import load_processor, resolve_profile
from omni_bench.core.profiles import PROFILES
from omni_bench.core.tokens import token_ids
from omni_bench.layout.plan import plan
from omni_bench.layout.settings import LayoutSettings

ROOT = Path(__file__).resolve().parent.parent
# one profile per chat template (omni_bench/templates), and the 3B sizes that share one
PROFILE_NAMES = sorted({p.name for p in PROFILES.values()})
TEMPLATES = {p.template for p in PROFILES.values()}


def _text(text):
    return {"type": "text", "text": text}


CONVERSATIONS = {
    "one video": [{"role": "user", "content": [{"type": "video", "video": "video"}, _text("Describe it.")]}],
    "system, video + audio, reply": [
        {"role": "system", "content": [_text("You are terse.")]},
        {"role": "user", "content": [{"type": "video", "video": "clip.mp4"}, {"type": "audio", "audio": "a.wav"},
                                     _text("What is said?")]},
        {"role": "assistant", "content": [_text("Nothing.")]}],
    "several turns with images": [
        {"role": "user", "content": [{"type": "image", "image": "a.png"}, {"type": "image", "url": "b.png"},
                                     _text("Compare them.")]},
        {"role": "assistant", "content": [_text("The first is darker.")]},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "c.png"}}, _text("And this?")]},
        {"role": "assistant", "content": "Brighter still."}],
    "unicode and whitespace": [
        {"role": "system", "content": "Réponds en français. 東京 🎬"},
        {"role": "user", "content": [_text("  naïve café —\ttabs\r\nand   runs 12345 <|im_start|> literal\n\n")]},
        {"role": "assistant", "content": [_text("D'accord : « ça va » ! 😀")]}],
    "string contents, a None key": [
        {"role": "user", "content": "Hello", "name": None},
        {"role": "assistant", "content": "Hi.", "reasoning_content": None},
        {"role": "user", "content": "Count: 1, 2, 3."}],
    "reasoning": [
        {"role": "user", "content": "Why?"},
        {"role": "assistant", "content": "Because.", "reasoning_content": "Think first."},
        {"role": "user", "content": "Sure?"}],
}
TOOLS = [{"type": "function", "function": {"name": "seek", "description": "Seek the clip",
                                           "parameters": {"type": "object",
                                                          "properties": {"t": {"type": "number"}}}}}]


@pytest.fixture(scope="module")
def pairs():
    """profile name -> (transformers' processor, the light one)."""
    return {name: (load_processor(name), load_planner(name)) for name in PROFILE_NAMES}


def test_every_template_is_covered():
    assert {PROFILES[n].template for n in PROFILE_NAMES} == TEMPLATES
    assert len(TEMPLATES) == 5


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_light_is_light_and_names_the_same_tokens(name, pairs):
    real, light = pairs[name]
    assert isinstance(light, LightProcessor)
    assert light.tokenizer.special_tokens_map == real.tokenizer.special_tokens_map
    assert token_ids(light) == token_ids(real)
    assert resolve_profile(light) == resolve_profile(real) == PROFILES[name]
    for attr in ("video_token", "image_token", "audio_token", "vision_bos_token", "audio_bos_token"):
        assert getattr(light.tokenizer, attr, None) == getattr(real.tokenizer, attr, None), attr
    assert len(light.tokenizer) == len(real.tokenizer)


@pytest.mark.parametrize("name", PROFILE_NAMES)
@pytest.mark.parametrize("key", list(CONVERSATIONS))
@pytest.mark.parametrize("generation", [False, True])
def test_template_text_and_ids_equal_transformers(name, key, generation, pairs):
    real, light = pairs[name]
    messages = CONVERSATIONS[key]
    want = real.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)
    got = light.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation)
    assert got == want
    ids = real.tokenizer(want)["input_ids"]
    assert light.tokenizer(want)["input_ids"] == ids
    assert light.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation) == ids
    assert light.tokenizer.decode(ids) == real.tokenizer.decode(ids)
    assert light.tokenizer.decode(ids, skip_special_tokens=True) == real.tokenizer.decode(ids, skip_special_tokens=True)


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_tools_and_text_pieces_equal_transformers(name, pairs):
    real, light = pairs[name]
    messages = CONVERSATIONS["string contents, a None key"]
    want = real.apply_chat_template(messages, tools=TOOLS, tokenize=False, add_generation_prompt=True)
    assert light.apply_chat_template(messages, tools=TOOLS, tokenize=False, add_generation_prompt=True) == want
    for text in ("<0.2 seconds>", "\n", " system", "x" * 300, "a\u0301 \u00e9", "<|VIDEO|><|video_pad|>"):
        assert light.tokenizer(text, add_special_tokens=False)["input_ids"] == \
            real.tokenizer(text, add_special_tokens=False)["input_ids"], text


def test_plan_defaults_to_the_light_processor():
    import omni_bench.layout.plan as planner

    assert isinstance(planner._load("qwen2.5-omni-7b"), LightProcessor)
    assert planner._load("qwen3-vl-8b") is load_planner("qwen3-vl-8b")  # one object per folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, pairs):
    """A checkpoint directory as transformers writes one (processor files, no omni_bench marker)."""
    folder = tmp_path_factory.mktemp("ckpt") / "qwen2.5-vl-like"
    pairs["qwen2.5-vl-7b"][0].save_pretrained(folder)
    assert not (folder / "omni_bench_profile.json").exists()
    return folder


@pytest.mark.parametrize("changes", [dict(frames=8), dict(frames=12, resize=(112, 168), answer="Ok.", system="S.")])
def test_checkpoint_directory_plans_the_light_way(checkpoint, changes):
    light = load_planner(str(checkpoint))
    real = load_processor(str(checkpoint))
    assert isinstance(light, LightProcessor) and light.processor_class == "Qwen2_5_VLProcessor"
    assert resolve_profile(light) == resolve_profile(real)
    meta = dict(duration=9.5, width=640, height=360, native_fps=30, has_audio=False)
    settings = LayoutSettings(profile=str(checkpoint), use_audio=False, **changes)
    assert plan(meta, settings) == plan(meta, settings, processor=real)


def test_checkpoint_family_from_config_json(checkpoint, tmp_path):
    folder = tmp_path / "by-model-type"
    shutil.copytree(checkpoint, folder)
    for name in ("processor_config.json", "tokenizer_config.json"):
        data = json.loads((folder / name).read_text())
        data.pop("processor_class", None)
        (folder / name).write_text(json.dumps(data))
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    light = load_planner(str(folder))
    assert light.processor_class == "Qwen2_5_VLProcessor"
    assert resolve_profile(light) == PROFILES["qwen2.5-vl-7b"]
    meta = dict(duration=4.0, width=320, height=240, native_fps=25, has_audio=False)
    settings = LayoutSettings(frames=4, use_audio=False)
    assert plan(meta, settings.replace(profile=str(folder))).input_ids == \
        plan(meta, settings.replace(profile=str(checkpoint))).input_ids


def test_a_folder_without_tokenizer_json_falls_back_to_transformers(tmp_path):
    from omni_bench.core.errors import OmniBenchError

    with pytest.raises(OmniBenchError, match="not a checkpoint directory"):
        load_planner(str(tmp_path))


_HEAVY = ("torch", "transformers", "torchvision")
_PROBE = ("import atexit, json, sys\n"
          "atexit.register(lambda: print('HEAVY=' + json.dumps([m for m in {heavy!r} if m in sys.modules]), "
          "file=sys.stderr))\n"
          "from omni_bench.cli import main\n"
          "sys.exit(main({argv!r}))\n")
META = ["--duration", "12", "--width", "640", "--height", "360", "--native-fps", "15"]
COMMANDS = {
    "plan CLIP": (["plan", "data/clips/kitchen_talk.mkv", "--frames", "16"], 0),
    "plan CLIP qwen3-vl": (["plan", "data/clips/kitchen_talk.mkv", "--profile", "qwen3-vl-8b", "--frames", "8"], 0),
    "plan metadata": (["plan", *META, "--frames", "16", "--json"], 0),
    "budget clips": (["budget", "data/clips"], 0),
    "budget qwen3-omni": (["budget", "data/clips", "--profile", "qwen3-omni-30b-a3b"], 0),
    "samplers CLIP": (["samplers", "data/clips/kitchen_talk.mkv", "--frames", "8"], 0),
    "bad flag": (["plan", *META, "--frames", "-3"], 2),
    "missing clip": (["plan", "data/clips/no_such_clip.mkv"], 2),
    "missing clip (inspect)": (["inspect", "data/clips/no_such_clip.mkv"], 2),
    "missing checkpoint": (["plan", *META, "--model", "no/such/dir"], 2),
    "train: bad loss backend": (["train", "--tiny", "--data", "data/longvale_sft.json", "--loss-backend", "x"], 2),
    "train: missing data": (["train", "--tiny", "--data", "no_such.json", "--output", "/nonexistent/run"], 2),
}


@pytest.mark.slow
@pytest.mark.parametrize("key", list(COMMANDS))
def test_cli_paths_import_neither_torch_nor_transformers(key):
    argv, rc = COMMANDS[key]
    env = dict(os.environ, OMNI_BENCH_PROGRESS="0")
    done = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=_HEAVY, argv=argv)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == rc, done.stderr[-2000:]
    heavy = json.loads(next(line for line in done.stderr.splitlines() if line.startswith("HEAVY="))[6:])
    assert heavy == [], (key, heavy)
    if rc == 2:
        first = done.stderr.splitlines()[0]  # the one error line comes first
        assert first.startswith("omni-bench") and "error:" in first, done.stderr


@pytest.mark.slow
def test_a_cache_not_built_yet_is_built_first_and_said(tmp_path):
    argv = [sys.executable, "-m", "omni_bench.cli", "plan", "data/clips/kitchen_talk.mkv", "--frames", "8",
            "--profile", "qwen2.5-vl-3b", "--json"]
    fresh = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, OMNI_BENCH_CACHE=str(tmp_path), OMNI_BENCH_PROGRESS="1"))
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert fresh.stderr.startswith("omni-bench plan: building the qwen2.5-vl-3b processor cache (first use; slow")
    assert (tmp_path / "processors" / "qwen2.5-vl-3b-v1" / "tokenizer.json").is_file()
    warm = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMNI_BENCH_CACHE=str(tmp_path), OMNI_BENCH_PROGRESS="1"))
    assert warm.returncode == 0 and warm.stderr == ""  # built once; the second run reads it the light way
    assert json.loads(warm.stdout) == json.loads(fresh.stdout)


def test_a_legacy_chat_template_json_is_read_as_transformers_reads_it(checkpoint, tmp_path):
    folder = tmp_path / "legacy-template"
    shutil.copytree(checkpoint, folder)
    template = (folder / "chat_template.jinja").read_text()
    (folder / "chat_template.jinja").unlink()
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    light, real = load_planner(str(folder)), load_processor(str(folder))
    assert isinstance(light, LightProcessor) and light.chat_template == real.chat_template == template
    messages = CONVERSATIONS["system, video + audio, reply"]
    assert light.apply_chat_template(messages) == real.apply_chat_template(messages, tokenize=False)
