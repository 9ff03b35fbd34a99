"""A tiny synthetic run (planted topic tastes) for tests, the quickstart notebook and smoke checks."""

from experiments.configs import default


def get_config():
    config = default.get_config()
    config.data.name = "synthetic"
    config.data.num_users = 400
    config.data.num_items = 120
    config.data.num_topics = 6
    config.data.mean_length = 25
    config.data.seed = 0
    config.model.max_len = 32
    config.model.embed_dim = 32
    config.model.dropout_rate = 0.1
    config.train.num_epochs = 8
    config.train.batch_size = 64
    config.train.bucket_lengths = (16, 32)
    config.train.early_stopping_patience = 100
    config.train.progress_bar = False
    config.optimizer.warmup_steps = 10
    config.optimizer.learning_rate = 3e-3
    config.eval.batch_size = 128
    return config
