"""The original SASRec paper's sampled protocol on ml-1m.txt (100 negatives) against Kang & McAuley (ICDM 2018).

Trains experiments/configs/reproduce/kang_sasrec_sampled.py, then prints ours beside the published figures.
"""

from _runner import Published, main

PUBLISHED = Published(
    source="Kang & McAuley, Self-Attentive Sequential Recommendation (ICDM 2018), Table III, ML-1M",
    protocol="ml-1m.txt, leave-one-out, each test item ranked against 100 sampled negatives",
    metrics={'HR@10': 0.8245, 'NDCG@10': 0.5905})

if __name__ == "__main__":
    main("kang_sasrec_sampled", PUBLISHED)
