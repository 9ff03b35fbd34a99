"""Vanilla SASRec (binary cross-entropy, one sampled negative) on ml-1m.txt, after Klenitskiy &
Vasilev (RecSys 2023): HR@10 0.2500, NDCG@10 0.1341. The settings of
klenitskiy_sasrec_ce_block.py (their block structure and attention dropout) with the loss of the
original SASRec."""

from experiments.configs.reproduce import klenitskiy_sasrec_ce_block


def get_config():
    config = klenitskiy_sasrec_ce_block.get_config()
    config.loss.name = "binary_cross_entropy"
    return config
