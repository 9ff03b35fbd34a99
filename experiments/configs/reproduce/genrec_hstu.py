"""HSTU on ML-1M chrono-all, after the generative-recommenders README (configs/ml-1m/
hstu-sampled-softmax-n128-final.gin, "identical configurations as SASRec"): HR@10 0.3097,
NDCG@10 0.1720. The settings of genrec_sasrec.py with the HSTU encoder (2 blocks, 1 head).
Difference: recall_jax's HSTU has a relative position bias but no time bias (its batches carry
no timestamps)."""

from experiments.configs.reproduce import genrec_sasrec


def get_config():
    config = genrec_sasrec.get_config()
    config.model.update(name="hstu", num_blocks=2, num_heads=1)
    return config
