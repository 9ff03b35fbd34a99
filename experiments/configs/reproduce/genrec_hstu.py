"""HSTU on ML-1M chrono-all, after the generative-recommenders README (configs/ml-1m/
hstu-sampled-softmax-n128-final.gin, "identical configurations as SASRec"): HR@10 0.3097,
NDCG@10 0.1720. The settings of genrec_sasrec.py with the HSTU encoder (2 blocks, 1 head).
Its relative attention bias has the reference's 128 time-gap buckets (model.time_buckets).
Difference: the time gap is measured from the query position's own event, not from the next
event's time, which a recommender does not know when it recommends."""

from experiments.configs.reproduce import genrec_sasrec


def get_config():
    config = genrec_sasrec.get_config()
    # The SASRec block style and attention-weight dropout of genrec_sasrec do not apply to HSTU.
    config.model.update(name="hstu", num_blocks=2, num_heads=1, time_buckets=128,
                        block_style="pre_norm", attention_dropout_rate=0.0)
    return config
