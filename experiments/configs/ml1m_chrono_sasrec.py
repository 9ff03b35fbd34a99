"""SASRec with full softmax on ML-1M chrono-all (the generative-recommenders protocol).

All 3,706 items, leave-one-out, full ranking over every item with the user's history excluded.
"""

from experiments.configs import default


def get_config():
    config = default.get_config()
    config.data.name = "ml-1m-chrono-all"
    config.train.num_epochs = 80
    config.train.max_train_minutes = 50.0
    return config
