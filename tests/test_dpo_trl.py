"""The DPO loss is trl's: trl 1.16's own ``DPOTrainer`` and omni_bench's, same model, pairs and seed.

A text-only tiny Qwen2 causal LM with the real Qwen2 tokenizer and one LoRA adapter (built twice from
one seed), four pairs, batch 2, three optimizer steps: at every step the two trainers log the same
loss, grad norm, ``rewards/chosen``, ``rewards/rejected``, ``rewards/margins``, ``rewards/accuracies``,
``logps/chosen`` and ``logps/rejected``. trl tokenises the pairs; omni_bench's rows are built from
trl's very ``prompt_ids`` / ``chosen_ids`` / ``rejected_ids``, so what is compared is the loss
engine (log-probs, reference pass, loss, metrics, optimizer), not two tokenisations.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")

from omni_bench.layout.labels import IGNORE_INDEX  # noqa: E402
from omni_bench.training.config import PreferenceSettings  # noqa: E402

PAIRS = [
    {"prompt": "When does the bar cross the frame?", "chosen": " From 40 to 60.", "rejected": " From 0 to 99."},
    {"prompt": "What can be heard?", "chosen": " A steady tone.", "rejected": " Nothing, the clip is silent."},
    {"prompt": "Where is the street market?", "chosen": " In the middle.", "rejected": " Nowhere."},
    {"prompt": "Who talks in the kitchen?", "chosen": " Two people.", "rejected": " A dog barking loudly."},
]
TOLERANCE = 2e-5  # absolute: a reply's summed log-prob (~-100 in float32) is exact to ~1e-5, x beta
KEYS = ("loss", "grad_norm", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies",
        "logps/chosen", "logps/rejected")


def _peft_model(vocab: int):
    """The same tiny Qwen2 LM with the same fresh LoRA adapter every call (seeded)."""
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                         tie_word_embeddings=False)
    model = Qwen2ForCausalLM(config)
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    model = get_peft_model(model, lora)
    # a non-zero start for the adapter, so the policy differs from the reference after step 1 either way
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.02)
    return model


class _Logs:
    """A TrainerCallback that keeps every logged row with a loss."""

    def __new__(cls):
        from transformers import TrainerCallback

        class Keep(TrainerCallback):
            rows: list

            def on_log(self, args, state, control, logs=None, **kwargs):
                if logs and "loss" in logs:
                    self.rows.append(dict(logs))

        keep = Keep()
        keep.rows = []
        return keep


def _arguments(tmp_path, name: str, settings: PreferenceSettings) -> dict:
    return dict(output_dir=str(tmp_path / name), per_device_train_batch_size=2, max_steps=3, learning_rate=5e-3,
                lr_scheduler_type="linear", warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0, logging_steps=1,
                seed=0, report_to="none", use_cpu=True, save_strategy="no", remove_unused_columns=False,
                disable_tqdm=True, bf16=False, gradient_checkpointing=False)


def _run_trl(tmp_path, tokenizer, settings: PreferenceSettings):
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(**_arguments(tmp_path, "trl", settings), beta=settings.beta, loss_type=list(settings.loss_types),
                     loss_weights=list(settings.loss_weights) or None, label_smoothing=settings.label_smoothing,
                     max_length=None)
    model = _peft_model(len(tokenizer))
    logs = _Logs()
    trainer = DPOTrainer(model=model, args=args, train_dataset=Dataset.from_list(PAIRS), processing_class=tokenizer,
                         callbacks=[logs])
    assert "ref" in trainer.model.peft_config  # trl's reference for a PeftModel: a frozen copy of the adapter
    trainer.train()
    return trainer, logs.rows


def _run_ours(tmp_path, processor, tokenized, settings: PreferenceSettings):
    from transformers import Trainer, TrainingArguments

    from omni_bench.training.dpo import REFERENCE_ADAPTER, make_dpo_trainer_class
    from omni_bench.training.preference_batch import PreferenceCollator

    items = []
    for example in tokenized:
        item = {}
        for side in ("chosen", "rejected"):
            ids = torch.tensor(example["prompt_ids"] + example[f"{side}_ids"])
            labels = ids.clone()
            labels[:len(example["prompt_ids"])] = IGNORE_INDEX
            item[f"{side}_input_ids"], item[f"{side}_labels"] = ids, labels
        items.append(item)
    model = _peft_model(len(processor.tokenizer))
    # the same reference trl builds for a PeftModel: a frozen copy of the starting adapter
    model.add_adapter(REFERENCE_ADAPTER, model.peft_config["default"])
    for name, param in model.named_parameters():
        if ".default." in name:
            model.get_parameter(name.replace(".default.", f".{REFERENCE_ADAPTER}.")).data.copy_(param.data)
    model.set_adapter("default")
    logs = _Logs()
    trainer = make_dpo_trainer_class(Trainer)(
        model=model, args=TrainingArguments(**_arguments(tmp_path, "ours", settings)), train_dataset=items,
        data_collator=PreferenceCollator(processor), preference=settings, callbacks=[logs])
    trainer.train()
    return logs.rows


@pytest.mark.slow
@pytest.mark.parametrize("settings", [PreferenceSettings(), PreferenceSettings(loss_type="ipo", beta=0.5),
                                      PreferenceSettings(loss_type="hinge"),
                                      PreferenceSettings(loss_type="robust", label_smoothing=0.1),
                                      PreferenceSettings(loss_type="sigmoid,sft", loss_weights=(1.0, 0.5))],
                         ids=["sigmoid", "ipo", "hinge", "robust", "rpo"])
def test_three_steps_equal_trl(tmp_path, omni_processor, settings):
    trl_trainer, trl_rows = _run_trl(tmp_path, omni_processor.tokenizer, settings)
    ours = _run_ours(tmp_path, omni_processor, trl_trainer.train_dataset, settings)
    assert len(trl_rows) == len(ours) == 3
    for step, (theirs, mine) in enumerate(zip(trl_rows, ours), start=1):
        for key in KEYS:  # float32 sums of ~15 log-probs of ~-12 each, in another order than trl's tiles
            assert mine[key] == pytest.approx(theirs[key], rel=1e-5, abs=TOLERANCE), (step, key, mine[key],
                                                                                    theirs[key])
    assert ours[0]["rewards/margins"] == pytest.approx(0.0, abs=1e-6)  # step 1: the policy is the reference
    assert ours[-1]["rewards/margins"] != pytest.approx(0.0, abs=1e-6)  # and then it is not: the test can fail
    if settings.loss_type == "sigmoid":
        assert ours[0]["loss"] == pytest.approx(math.log(2), abs=1e-6)
