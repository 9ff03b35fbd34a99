"""SASRec with sampled softmax on ML-1M chrono-all against the generative-recommenders README.

Trains experiments/configs/reproduce/genrec_sasrec.py, then prints ours beside the published figures.
"""

from _runner import Published, main

PUBLISHED = Published(
    source="generative-recommenders README, ML-1M table, SASRec (configs/ml-1m/sasrec-sampled-softmax-n128-final.gin)",
    protocol="ML-1M ratings.dat in time order, leave-one-out, full ranking over all 3,706 items",
    metrics={'HR@10': 0.2853, 'NDCG@10': 0.1603, 'HR@50': 0.5474, 'NDCG@50': 0.2185, 'HR@200': 0.7528, 'NDCG@200': 0.2498})

if __name__ == "__main__":
    main("genrec_sasrec", PUBLISHED)
