"""GRU4Rec (full cross-entropy) on ml-1m.txt, after Klenitskiy & Vasilev (RecSys 2023): HR@10
0.2811, NDCG@10 0.1648 (the generative-recommenders README lists the same row). One GRU layer of
width 64, dropout 0.1, otherwise the settings of klenitskiy_sasrec_ce.py."""

from experiments.configs.reproduce import klenitskiy_sasrec_ce


def get_config():
    config = klenitskiy_sasrec_ce.get_config()
    config.model.update(name="gru4rec", objective="next_item", num_blocks=1)
    return config
