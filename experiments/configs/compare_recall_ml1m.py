"""Every recall strategy on the ML-1M chrono-all SASRec model (trained here unless
compare.model_workdir points at a finished run of ml1m_chrono_sasrec.py)."""

import ml_collections

from experiments.configs import ml1m_chrono_sasrec


def compare_section() -> ml_collections.ConfigDict:
    compare = ml_collections.ConfigDict()
    compare.model_workdir = ""  # "": train in --workdir
    compare.seed = 0
    compare.ks = (10, 50, 200)
    compare.latency_queries = 200  # single-user calls timed for p50/p99
    compare.tuning_users = 2000  # validation users for ScaNN tuning and tau calibration
    compare.tuning_k = 10
    compare.tuning_target_recall = 0.98
    compare.approx_recall_target = 0.95
    compare.threshold_mean_size = 200
    compare.oversized_factor = 3.0  # a set over 3x the mean size counts as oversized
    compare.hybrid_k_max = 400
    compare.item_cf_neighbours = 0  # 0: keep every neighbour
    # Also report item-CF voting with the last 3 items only (0: off); 3 was the best of
    # 1, 2, 3, 5, 8 by HR@10 on ML-1M validation users.
    compare.item_cf_recent = 3
    compare.sweep_sizes = (10, 20, 50, 100, 200, 400, 800)
    compare.scann = ml_collections.ConfigDict(dict(
        num_leaves=60, num_leaves_to_search=10, training_sample_size=100_000,
        dimensions_per_block=2, anisotropic_quantization_threshold=0.2, reorder=200,
        spherical=False, training_threads=0))
    return compare


def get_config():
    config = ml1m_chrono_sasrec.get_config()
    config.compare = compare_section()
    return config
