"""Base configuration: every field recall_jax reads is declared here, with its default.

Every experiment config starts from this and changes a few fields; the command line can set any
of them (`--config.<section>.<field>=value`) and nothing else (the config is locked).
tests/test_config_fields.py checks that the code reads no field missing from this file.
"""

import ml_collections


def compare_section() -> ml_collections.ConfigDict:
    """Settings of the recall-strategy comparison (python -m recall_jax.compare)."""
    compare = ml_collections.ConfigDict()
    # Which models to compare: "dot" (model.normalize=False) and/or "cosine" (True).
    compare.models = ("dot", "cosine")
    # Finished runs of the experiment with each scoring; "": trained in <workdir>/<kind>_model.
    compare.dot_model_workdir = ""
    compare.cosine_model_workdir = ""
    # Recall strategies run on each model, in this order (registered names:
    # recall_jax/retrieval/strategies.py STRATEGIES); "exact" is every other one's reference.
    compare.strategies = ("exact", "exact_cosine", "approx_max_k", "scann", "scann_tuned",
                          "faiss_hnsw", "faiss_ivf_pq", "cosine_threshold",
                          "cosine_threshold_per_user", "scann_then_threshold",
                          "faiss_range_threshold")
    # Model-free baselines (BASELINES there); item_cf_recent runs when compare.item_cf_recent > 0.
    compare.baselines = ("popularity", "item_cf", "item_cf_recent")
    compare.seed = 0  # which users are timed one at a time
    compare.ks = (10, 50, 200)
    compare.latency_queries = 200  # single-user calls timed for p50/p99
    compare.timing_repeats = 3  # batched passes timed for queries/s (median, min-max)
    compare.tuning_users = 2000  # validation users for ScaNN tuning and tau calibration
    compare.tuning_k = 10
    compare.tuning_target_recall = 0.98
    compare.approx_recall_target = 0.95
    compare.threshold_mean_size = 200
    compare.oversized_factor = 3.0  # a set over 3x the mean size counts as oversized
    compare.hybrid_k_max = 400
    compare.item_cf_neighbours = 0  # 0: keep every neighbour
    compare.item_cf_recent = 0  # > 0: also item-CF voting with the last N items only
    compare.sweep_sizes = (10, 20, 50, 100, 200, 400, 800)
    compare.scann = ml_collections.ConfigDict(dict(
        num_leaves=60, num_leaves_to_search=10, training_sample_size=100_000,
        dimensions_per_block=2, anisotropic_quantization_threshold=0.2, reorder=200,
        spherical=False, training_threads=0))
    # FAISS indexes (recall_jax/retrieval/faiss_index.py) of faiss_hnsw, faiss_ivf_pq and
    # faiss_range_threshold; the search-time knobs (hnsw_ef_search, ivf_num_probes,
    # refine_k_factor) are defaults that the strategies' tuning replaces.
    compare.faiss = ml_collections.ConfigDict(dict(
        hnsw_m=32,  # HNSW graph links per node (memory and build time grow with it)
        hnsw_ef_construction=200,  # candidates kept while linking (graph quality)
        hnsw_ef_search=64,  # candidates kept per query
        ivf_num_lists=0,  # IVF k-means lists; 0: 4 sqrt(num_items), at most num_items / 39
        ivf_num_probes=16,  # lists searched per query
        pq_dimensions_per_block=2,  # dimensions per 4-bit PQ sub-quantizer (fast scan)
        refine_k_factor=4.0,  # IVF-PQ: the k_factor * k best re-ranked by exact inner product
        training_sample_size=100_000,  # items the IVF and PQ quantizers are trained on
        threads=0))  # FAISS OpenMP threads for batched searches and builds; 0: all cores
    return compare


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0  # parameters, batch order, dropout and negatives
    config.command = ""  # filled in by the entry points: the command line of the run

    config.data = ml_collections.ConfigDict()
    config.data.name = "ml-1m-chrono-all"  # see recall_jax.data.registry.DATASET_NAMES
    config.data.root = ""  # "": $RECALL_JAX_DATA, else download the official archives
    config.data.cache_dir = ""  # "": ~/.cache/recall_jax (downloads only)
    config.data.split = "leave_one_out"  # | "temporal"
    config.data.min_user_events = 3  # users with fewer events are dropped before splitting
    config.data.validation_quantile = 0.8  # temporal split: global time cut-offs
    config.data.test_quantile = 0.9
    config.data.cold_start_share = 0.0  # > 0: this share of items is held out of training
    config.data.cold_start_seed = 0
    config.data.min_rating = 0  # ml-1m-ratings: keep ratings >= this (0: all)
    # generic: one user,item[,timestamp] per line; relative paths are read under the data root.
    config.data.interactions_path = ""
    config.data.items_path = ""  # optional items table (item column + text columns); see below
    config.data.delimiter = ","
    config.data.has_header = True
    config.data.text_columns = ()  # (): every non-id column of the items table / .item file
    # recbole: RecBole atomic files; path is the .inter file or a folder <name>/ holding
    # <name>.inter and optionally <name>.item (item text; items_path names another one).
    # sequence: one `user item item ...` line per user (items in time order; optional items
    # table in items_path, read as for generic). Relative paths are read under the data root.
    config.data.path = ""  # e.g. ml-1m/ml-1m.inter (recbole), ml-1m/ml-1m-chrono-all.txt (sequence)
    config.data.user_field = "user_id"  # recbole: the header's field names (without ":token")
    config.data.item_field = "item_id"
    config.data.time_field = "timestamp"  # recbole: absent from the file -> file order is time
    # The dataset name on results pages and protocol lines; "": the data file's stem for
    # generic/recbole/sequence (ml-1m.inter -> "ml-1m"), data.name for the named datasets.
    config.data.label = ""
    # Items of the interactions without a row in movies.dat / u.item / the items table:
    # False: a DataFormatError; True: a warning, and they get empty text fields.
    config.data.allow_missing_item_text = False
    config.data.synthetic = ml_collections.ConfigDict(dict(
        num_users=500, num_items=200, num_topics=8, mean_length=30, seed=0))

    config.model = ml_collections.ConfigDict()
    # Behaviour encoder (recall_jax.models.encoders.ENCODERS): "sasrec" (causal Transformer) |
    # "bert4rec" (bidirectional Transformer) | "gru4rec" (GRU) | "hstu" (causal HSTU)
    config.model.name = "sasrec"
    # Training objective (recall_jax.models.objectives.OBJECTIVES): "next_item" (causal
    # encoders) | "cloze" (masked items; bidirectional encoders such as bert4rec)
    config.model.objective = "next_item"
    config.model.max_len = 200
    config.model.embed_dim = 64
    config.model.num_blocks = 2
    config.model.num_heads = 1
    config.model.mlp_ratio = 4
    config.model.dropout_rate = 0.2
    config.model.attention_dropout_rate = 0.0
    config.model.activation = "gelu"  # | "gelu_tanh" | "relu"
    # "dot_product_attention" (jax.nn.dot_product_attention; fused kernels where XLA has them)
    # | "einsum" (explicit scores and softmax). attention_dropout_rate > 0 always uses einsum.
    config.model.attention_implementation = "dot_product_attention"
    # Transformer blocks (recall_jax.models.transformer): "pre_norm" (x + Dropout(MHA(LN(x))),
    # then the same for the feed-forward) | "sasrec" (the original SASRec code's block: the
    # normalised queries attend over the raw inputs and carry the residual; LN after it).
    config.model.block_style = "pre_norm"
    # Activations and matmuls: "float32" | "bfloat16". Parameters, LayerNorm statistics, the
    # attention softmax, the user and item vectors and the loss stay float32.
    config.model.compute_dtype = "float32"
    # "bytes": 8-bit keep masks, rate rounded to 1/256 (a quarter of the PRNG bits)
    # | "bernoulli": one float draw per element, exact rate (flax nn.Dropout)
    config.model.dropout_impl = "bytes"
    # HSTU only: buckets of the time gap between events for HSTU's relative time bias (the
    # reference uses 128); 0 = no time bias. Needs a dataset with timestamps.
    config.model.time_buckets = 0
    config.model.tie_item_embeddings = True
    config.model.normalize = False  # True: cosine scores divided by temperature
    config.model.temperature = 0.05
    config.model.mask_rate = 0.2  # cloze objective only: share of items masked
    # Item tower (recall_jax.models.item_towers.ITEM_TOWERS): "id" | "text" | "id+text"
    # (frozen text vectors + projection)
    config.model.item_tower = "id"
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
    config.train.num_epochs = 100  # with the schedule, this alone fixes the model
    config.train.batch_size = 128
    # Batch widths for length bucketing; (): derived from the training lengths' quantiles.
    config.train.bucket_lengths = ()
    config.train.eval_every_epochs = 1
    config.train.selection_metric = "NDCG@10"
    config.train.early_stopping_patience = 10
    # A safety stop, never part of an experiment: > 0 starts no epoch after this much wall
    # time, and every output of the run is marked truncated.
    config.train.max_train_minutes = 0.0
    config.train.checkpoints_to_keep = 2
    config.train.log_every_steps = 20
    config.train.progress_bar = True
    # PRNG of the run's keys (dropout, negatives, cloze masks, initialisation):
    # "threefry2x32" | "rbg" | "unsafe_rbg" (faster bits on accelerators; different draws)
    config.train.prng_impl = "threefry2x32"

    config.eval = ml_collections.ConfigDict()
    config.eval.ks = (10, 50, 200)
    # "exclude" (the whole history, a repeated target included) | "keep" |
    # "exclude_keep_target" (optimistic; only to compare with papers that used it)
    config.eval.seen_items = "exclude"
    # "full": every item ranked (the default, and the only protocol of the results pages) |
    # "sampled": each target among eval.sampled_negatives random items outside the history
    # (the original SASRec paper's protocol; only to reproduce papers that used it)
    config.eval.protocol = "full"
    config.eval.sampled_negatives = 100
    config.eval.sampled_seed = 0
    config.eval.content_history = 20  # text-similarity baseline: profile of the last N items
    config.eval.batch_size = 256  # users encoded per step
    config.eval.user_chunk = 1024  # users ranked per step
    config.eval.item_chunk = 65536  # items scored per step (memory: user_chunk x item_chunk)
    config.eval.audit_scores = False  # True: fixed-order dot products, bit-identical everywhere
    config.eval.bootstrap_resamples = 1000
    config.eval.bootstrap_seed = 0

    config.mesh = ml_collections.ConfigDict()
    config.mesh.model_parallelism = 1
    # (regex on parameter path, partition spec); unmatched parameters are replicated.
    config.mesh.parameter_rules = (("item_embedding/embedding", ("model", None)),)
    # A rule that cannot split its parameter is an error; True: replicate it with a warning.
    config.mesh.replicate_unsplittable = False

    config.compare = compare_section()
    return config
