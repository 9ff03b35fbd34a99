"""HSTU with full softmax on ML-1M chrono-all, on SASRec's full schedule.

The protocol, optimiser, schedule (70 epochs, early stopping after 10 without a validation
gain) and size (d=64, 2 blocks) of ml1m_chrono_sasrec.py with the HSTU behaviour encoder
(pointwise SiLU attention with a relative position bias, gating; see recall_jax/models/hstu.py),
chosen after HSTU led SASRec on validation NDCG@10 at every epoch of the 15-epoch encoder table.
"""

from experiments.configs import ml1m_chrono_sasrec


def get_config():
    config = ml1m_chrono_sasrec.get_config()
    config.model.name = "hstu"
    return config
