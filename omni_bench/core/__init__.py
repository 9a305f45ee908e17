"""The core: what every other layer stands on.

Profiles (the checkpoints' real settings), the processor built offline from them, the structural
token ids, the tiny models, media decoding, the one error type and the machine description.
Nothing here knows about token layouts, training data or training.
"""
