"""SASRec with full softmax on the SASRec benchmark file ml-1m.txt (3,416 items)."""

from experiments.configs import default


def get_config():
    config = default.get_config()
    config.data.name = "ml-1m-sasrec"
    return config
