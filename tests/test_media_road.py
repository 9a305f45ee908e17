"""The one media road (omni_bench.layout.road): each video decoded once, its frames sampled once, and the
same processor output whichever caller (inspect, the training dataset) takes it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from omni_bench import OmniBenchError, inspect
from omni_bench.data.dataset import OmniSFTDataset
from omni_bench.data.records import Record
from omni_bench.layout import inspect as inspect_module
from omni_bench.layout import plan as plan_module
from omni_bench.layout import road
from omni_bench.layout.settings import LayoutSettings

CLIPS = Path(__file__).resolve().parent.parent / "data" / "clips"
SETTINGS = LayoutSettings(frames=4, resize=(56, 56), prompt="Describe the video.", answer="A kitchen.")


@pytest.fixture
def counted(monkeypatch):
    """Calls of the frame sampler, the frame decoder and the audio decoder, by name."""
    calls = {"sample_indices": 0, "read_frames": 0, "read_audio": 0}

    def counting(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    counting(plan_module, "sample_indices")
    counting(road, "read_frames")
    counting(road, "read_audio")
    return calls


def test_inspect_samples_and_decodes_each_video_once(counted, omni_processor):
    layout = inspect(str(CLIPS / "kitchen_talk.mkv"), SETTINGS, processor=omni_processor)
    assert counted == {"sample_indices": 1, "read_frames": 1, "read_audio": 1}
    assert layout.stats.sampled_frames == 4 and not layout.notes  # the processor agrees with the plan


def test_the_cost_guard_reads_the_plan_and_decodes_nothing(counted, omni_processor):
    with pytest.raises(OmniBenchError) as refused:
        inspect(str(CLIPS / "kitchen_talk.mkv"), LayoutSettings(fps=25, max_frames=100_000, resize=(1120, 1120)),
                processor=omni_processor)
    assert refused.value.reason == "too-costly"
    assert counted == {"sample_indices": 1, "read_frames": 0, "read_audio": 0}


def test_dataset_samples_at_planning_and_decodes_each_video_once(counted, omni_processor):
    def record(name, video, question):
        return Record(name, (("human", f"<video>{question}"), ("gpt", "A kitchen.")), videos=(video,))

    records = [record("a", "kitchen_talk.mkv", "Describe the video."), record("b", "kitchen_talk.mkv", "When?"),
               record("c", "street_market.mkv", "Describe the video.")]
    dataset = OmniSFTDataset(records, media_root=CLIPS, settings=SETTINGS, processor=omni_processor)
    sampled = counted["sample_indices"]  # at planning, from metadata (at most once per record)
    assert 1 <= sampled <= 3 and counted["read_frames"] == counted["read_audio"] == 0
    items = [dataset[0], dataset[1], dataset[2]]
    # no sampling again; two questions about one video (an evaluation's queries) decode it once, the next once
    assert counted == {"sample_indices": sampled, "read_frames": 2, "read_audio": 2}
    for index, item in enumerate(items):  # the kept decode gives what a fresh one gives
        alone = OmniSFTDataset([records[index]], media_root=CLIPS, settings=SETTINGS, processor=omni_processor)[0]
        assert set(alone) == set(item)
        for key, value in alone.items():
            assert torch.equal(value, item[key]), (index, key)


def test_dataset_and_inspect_give_the_same_processor_output(omni_processor, monkeypatch):
    outputs = []
    real = inspect_module.process

    def spy(*args, **kwargs):
        outputs.append(real(*args, **kwargs))
        return outputs[-1]

    monkeypatch.setattr(inspect_module, "process", spy)
    layout = inspect(str(CLIPS / "kitchen_talk.mkv"), SETTINGS, processor=omni_processor)
    record = Record("k", (("human", "<video>Describe the video."), ("gpt", "A kitchen.")),
                    videos=("kitchen_talk.mkv",))
    dataset = OmniSFTDataset([record], media_root=CLIPS, settings=SETTINGS, processor=omni_processor)
    from_dataset, _, indices, fps = dataset._process(0)
    (from_inspect,) = outputs
    assert set(from_dataset) == set(from_inspect)
    for key, value in from_inspect.items():
        assert torch.equal(torch.as_tensor(from_dataset[key]), torch.as_tensor(value)), key
    assert tuple(indices) == layout.stats.frame_indices and fps == layout.stats.processor_fps
    assert dataset.layout(0).input_ids == layout.input_ids and dataset.layout(0).labels == layout.labels


def test_prepare_and_process_equal_inspect(omni_processor):
    from omni_bench.layout.processor_call import conversation

    media = road.prepare_media(str(CLIPS / "kitchen_talk.mkv"), SETTINGS, omni_processor)
    assert media.frames.shape == (4, 56, 56, 3) and media.plan.grid == (2, 4, 4)
    assert len(media.audio) == media.plan.audio_samples
    out = road.process(conversation(SETTINGS), media, omni_processor)
    layout = inspect(str(CLIPS / "kitchen_talk.mkv"), SETTINGS, processor=omni_processor)
    assert out["input_ids"][0].tolist() == list(layout.input_ids)


def test_the_inspect_command_probes_the_clip_once(counted, monkeypatch, capsys, omni_processor):
    from omni_bench.cli import inspect as cli_inspect
    from omni_bench.cli import main

    probes = []
    for module in (cli_inspect, road):
        real = module.probe
        monkeypatch.setattr(module, "probe", lambda path, real=real: probes.append(path) or real(path))
    assert main(["inspect", str(CLIPS / "kitchen_talk.mkv"), "--frames", "4", "--resize", "56x56", "--json"]) == 0
    # (its alignment report plans candidate fixes, other fps values, from metadata: more samplings, no decode)
    assert len(probes) == 1 and counted["read_frames"] == 1 and counted["read_audio"] == 1
    assert '"input_ids"' in capsys.readouterr().out
