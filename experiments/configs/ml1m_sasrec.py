"""SASRec with full softmax on the SASRec benchmark file ml-1m.txt (3,416 items).

Same model and schedule as ml1m_chrono_sasrec.py; only the data file differs.
"""

from experiments.configs import ml1m_chrono_sasrec


def get_config():
    config = ml1m_chrono_sasrec.get_config()
    config.data.name = "ml-1m-sasrec"
    return config
