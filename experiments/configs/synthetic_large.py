"""A large-catalogue synthetic run: 10^6 items by default, for scale checks of training and
full-ranking evaluation (scripts/benchmark_scale.py builds its cells from this config).

The catalogue size is config.data.synthetic.num_items; 10^5 items, for example:

    python -m recall_jax.main --config=experiments/configs/synthetic_large.py \
        --config.data.synthetic.num_items=100000 --workdir=runs/synthetic_large_100k

Split the item table over more devices with --config.mesh.model_parallelism=N (the parameter
rule, default.py's, splits item_embedding/embedding by rows over the "model" axis; the table is
padded to a multiple of N rows). Sampled softmax (1024 shared popularity negatives
with logQ correction) keeps a train step O(batch x negatives), whatever the catalogue size.
Evaluation scores users x items in blocks of eval.user_chunk x eval.item_chunk float32
(512 x 32768 x 4 B = 64 MiB per block, a few such temporaries), so its memory stays bounded
at 10^6 items; the catalogue itself is split over the model axis.
"""

from experiments.configs import default


def get_config():
    config = default.get_config()
    config.data.name = "synthetic"
    config.data.synthetic.num_users = 6040  # as many users as ML-1M
    config.data.synthetic.num_items = 1_000_000
    # 1000 items per topic at 10^6 items. Generation is O(events x log items + items log items
    # + users x topics): 0.6 s and 0.15 GiB peak RSS at 10^5 items (0.4 s at 10^4), so a few
    # seconds at 10^6.
    config.data.synthetic.num_topics = 1000
    config.data.synthetic.mean_length = 50
    config.data.synthetic.seed = 0
    config.model.max_len = 50
    config.model.embed_dim = 64
    config.model.num_blocks = 2
    config.model.num_heads = 1
    config.model.dropout_rate = 0.2
    config.loss.name = "sampled_softmax"
    config.loss.num_sampled = 1024
    config.loss.num_in_batch = 0
    config.loss.sampler = "popularity"
    config.loss.logq_correction = True
    config.train.num_epochs = 20
    config.train.batch_size = 128
    config.train.early_stopping_patience = 5
    config.train.progress_bar = False
    config.eval.ks = (10, 50, 200)
    config.eval.batch_size = 256
    config.eval.user_chunk = 512
    config.eval.item_chunk = 32768
    config.mesh.model_parallelism = 1
    # The default rule, stated here because this config exists to exercise it: the (tied) item
    # table split by rows over the "model" axis.
    config.mesh.parameter_rules = (("item_embedding/embedding", ("model", None)),)
    return config
