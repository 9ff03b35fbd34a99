"""HSTU with sampled softmax on ML-1M chrono-all against the generative-recommenders README.

Trains experiments/configs/reproduce/genrec_hstu.py, then prints ours beside the published figures.
"""

from _runner import Published, main

PUBLISHED = Published(
    source="generative-recommenders README, ML-1M table, HSTU (configs/ml-1m/hstu-sampled-softmax-n128-final.gin)",
    protocol="ML-1M ratings.dat in time order, leave-one-out, full ranking over all 3,706 items",
    metrics={'HR@10': 0.3097, 'NDCG@10': 0.172, 'HR@50': 0.5754, 'NDCG@50': 0.2307, 'HR@200': 0.7716, 'NDCG@200': 0.2606})

if __name__ == "__main__":
    main("genrec_hstu", PUBLISHED)
