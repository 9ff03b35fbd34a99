"""A tiny synthetic run (planted topic tastes) for tests, the quickstart notebook and smoke checks."""

from experiments.configs import default


def get_config():
    config = default.get_config()
    config.data.name = "synthetic"
    config.data.synthetic.num_users = 400
    config.data.synthetic.num_items = 120
    config.data.synthetic.num_topics = 6
    config.data.synthetic.mean_length = 25
    config.data.synthetic.seed = 0
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


def get_compare_config():
    """The tiny config with a comparison section sized for it (tests, notebooks)."""
    config = get_config()
    config.compare.tuning_users = 200
    config.compare.latency_queries = 20
    config.compare.timing_repeats = 1
    config.compare.threshold_mean_size = 10
    config.compare.hybrid_k_max = 30
    config.compare.ks = (10, 20)
    config.compare.item_cf_recent = 5
    config.compare.sweep_sizes = (5, 10, 20)
    config.compare.scann.num_leaves = 8
    config.compare.scann.num_leaves_to_search = 4
    config.compare.scann.reorder = 40
    return config
