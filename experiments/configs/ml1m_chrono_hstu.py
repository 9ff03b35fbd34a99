"""HSTU with full softmax on ML-1M chrono-all, on SASRec's full schedule.

The protocol, optimiser, schedule (70 epochs, early stopping after 10 without a validation
gain) and size (d=64, 2 blocks) of ml1m_chrono_sasrec.py with the HSTU behaviour encoder
(pointwise SiLU attention with a relative position bias, gating; see recall_jax/models/hstu.py),
chosen on validation users only: in the 15-epoch encoder table, HSTU's validation NDCG@10 was
above SASRec's at every epoch, with the id and with the id+text item tower.
"""

from experiments.configs import ml1m_chrono_sasrec


def get_config():
    config = ml1m_chrono_sasrec.get_config()
    config.model.name = "hstu"
    return config
