"""GRU4Rec (full cross-entropy) on ml-1m.txt against Klenitskiy & Vasilev (RecSys 2023).

Trains experiments/configs/reproduce/klenitskiy_gru4rec.py, then prints ours beside the published figures.
"""

from _runner import Published, main

PUBLISHED = Published(
    source="Klenitskiy & Vasilev, Turning Dross Into Gold Loss (RecSys 2023), GRU4Rec on ML-1M (also in the generative-recommenders README)",
    protocol="ml-1m.txt, leave-one-out, full ranking, seen items filtered",
    metrics={'HR@10': 0.2811, 'NDCG@10': 0.1648})

if __name__ == "__main__":
    main("klenitskiy_gru4rec", PUBLISHED)
