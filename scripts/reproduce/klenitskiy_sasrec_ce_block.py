"""SASRec+ with the authors' block structure on ml-1m.txt against Klenitskiy & Vasilev (RecSys 2023).

Trains experiments/configs/reproduce/klenitskiy_sasrec_ce_block.py, then prints ours beside the
published figures (the row of klenitskiy_sasrec_ce.py, which uses recall_jax's pre-LayerNorm
blocks: the two runs side by side test whether the block structure explains the gap).
"""

from _runner import Published, main

PUBLISHED = Published(
    source="Klenitskiy & Vasilev, Turning Dross Into Gold Loss (RecSys 2023), SASRec+ on ML-1M "
           "(their block structure)",
    protocol="ml-1m.txt, leave-one-out, full ranking, seen items filtered",
    metrics={'HR@10': 0.3152, 'NDCG@10': 0.1821})

if __name__ == "__main__":
    main("klenitskiy_sasrec_ce_block", PUBLISHED)
