"""Training: the fused linear cross-entropy, its wiring into the models, and the LoRA run loop."""
