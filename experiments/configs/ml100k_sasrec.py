"""SASRec with full softmax on MovieLens-100K (timestamps, stable-sorted), leave-one-out."""

from experiments.configs import default


def get_config():
    config = default.get_config()
    config.data.name = "ml-100k"
    config.model.max_len = 200
    config.train.batch_size = 64
    config.train.bucket_lengths = (16, 32, 48, 64, 96, 128, 160, 200)
    return config
