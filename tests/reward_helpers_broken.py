"""A user reward module that fails as it is imported (tests/test_rewards.py)."""

raise RuntimeError("this module needs a GPU")
