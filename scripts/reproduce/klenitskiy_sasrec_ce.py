"""SASRec+ (full cross-entropy) on ml-1m.txt against Klenitskiy & Vasilev (RecSys 2023).

Trains experiments/configs/reproduce/klenitskiy_sasrec_ce.py, then prints ours beside the published figures.
"""

from _runner import Published, main

PUBLISHED = Published(
    source="Klenitskiy & Vasilev, Turning Dross Into Gold Loss (RecSys 2023), SASRec+ on ML-1M",
    protocol="ml-1m.txt, leave-one-out, full ranking, seen items filtered",
    metrics={'HR@10': 0.3152, 'NDCG@10': 0.1821})

if __name__ == "__main__":
    main("klenitskiy_sasrec_ce", PUBLISHED)
