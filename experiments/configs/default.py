"""Base configuration; every experiment config starts from this and changes a few fields."""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0
    config.command = ""

    config.data = ml_collections.ConfigDict()
    config.data.name = "ml-1m-chrono-all"
    config.data.root = ""  # empty: $RECALL_JAX_DATA, else download the official archives
    config.data.split = "leave_one_out"
    config.data.min_user_events = 3
    config.data.cold_start_share = 0.0  # > 0: this share of items is held out of training
    config.data.cold_start_seed = 0

    config.model = ml_collections.ConfigDict()
    config.model.name = "sasrec"  # "sasrec" (causal) | "bert4rec" (bidirectional)
    config.model.max_len = 200
    config.model.embed_dim = 64
    config.model.num_blocks = 2
    config.model.num_heads = 1
    config.model.mlp_ratio = 4
    config.model.dropout_rate = 0.2
    config.model.attention_dropout_rate = 0.0
    config.model.activation = "gelu"  # | "gelu_tanh" | "relu"
    config.model.tie_item_embeddings = True
    config.model.normalize = False  # True: cosine scores divided by temperature
    config.model.temperature = 0.05
    config.model.mask_rate = 0.2  # bert4rec only: share of items masked for the cloze objective
    config.model.item_tower = "id"  # | "text" | "id+text" (frozen text vectors + projection)
    # id+text only: share of items whose id embedding is dropped per training step (DropoutNet)
    config.model.item_id_dropout = 0.0
    config.model.text_checkpoint = ""  # local BERT folder or hub id; "": all-MiniLM-L6-v2
    config.model.text_fields = ()  # catalogue text columns to encode; (): all of them
    config.model.text_pooling = "mean"  # | "cls"
    config.model.text_max_length = 64

    config.loss = ml_collections.ConfigDict()
    config.loss.name = "full_softmax"  # | "sampled_softmax" | "binary_cross_entropy"
    config.loss.num_sampled = 1024
    config.loss.num_in_batch = 0
    config.loss.sampler = "uniform"  # | "popularity"
    config.loss.logq_correction = True

    config.optimizer = ml_collections.ConfigDict()
    config.optimizer.learning_rate = 1e-3
    config.optimizer.warmup_steps = 100
    config.optimizer.end_learning_rate_factor = 0.1
    config.optimizer.weight_decay = 0.0
    config.optimizer.beta1 = 0.9
    config.optimizer.beta2 = 0.98
    config.optimizer.gradient_clip_norm = 1.0

    config.train = ml_collections.ConfigDict()
    config.train.num_epochs = 100
    config.train.batch_size = 128
    config.train.bucket_lengths = (16, 32, 48, 64, 96, 128, 160, 200)
    config.train.eval_every_epochs = 1
    config.train.selection_metric = "NDCG@10"
    config.train.early_stopping_patience = 10
    config.train.max_train_minutes = 0.0  # > 0: no new epoch starts after this much wall time
    config.train.checkpoints_to_keep = 2
    config.train.log_every_steps = 20
    config.train.progress_bar = True

    config.eval = ml_collections.ConfigDict()
    config.eval.ks = (10, 50, 200)
    config.eval.exclude_history = True
    config.eval.content_history = 20  # text-similarity baseline: profile of the last N items
    config.eval.batch_size = 256
    config.eval.user_chunk = 1024

    config.mesh = ml_collections.ConfigDict()
    config.mesh.model_parallelism = 1
    # (regex on parameter path, partition spec); unmatched parameters are replicated.
    config.mesh.parameter_rules = (("item_embedding/embedding", ("model", None)),)
    return config
