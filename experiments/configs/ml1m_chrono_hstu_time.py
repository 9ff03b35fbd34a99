"""HSTU with its relative time bias on ML-1M chrono-all: ml1m_chrono_hstu.py plus 128 buckets
of the log time gap between events (the generative-recommenders reference's count); see
recall_jax/models/hstu.py for how the gap is bucketed and measured.
"""

from experiments.configs import ml1m_chrono_hstu


def get_config():
    config = ml1m_chrono_hstu.get_config()
    config.model.time_buckets = 128
    return config
