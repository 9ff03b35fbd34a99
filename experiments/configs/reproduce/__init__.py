"""Configs of published rows, one per scripts/reproduce/<name>.py: each follows the paper's
protocol and settings as far as recall_jax expresses them, and says where it cannot."""
