"""BERT4Rec on ml-1m.txt against Klenitskiy & Vasilev (RecSys 2023).

Trains experiments/configs/reproduce/klenitskiy_bert4rec.py, then prints ours beside the published figures.
"""

from _runner import Published, main

PUBLISHED = Published(
    source="Klenitskiy & Vasilev, Turning Dross Into Gold Loss (RecSys 2023), BERT4Rec on ML-1M (also in the generative-recommenders README)",
    protocol="ml-1m.txt, leave-one-out, full ranking, seen items filtered",
    metrics={'HR@10': 0.2843, 'NDCG@10': 0.1537})

if __name__ == "__main__":
    main("klenitskiy_bert4rec", PUBLISHED)
