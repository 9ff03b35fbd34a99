"""The whole config checked before a run reads data or writes a file.

`validate_config` collects every problem (unknown names, values out of range, combinations
that cannot work, paths that do not exist) and raises one `ConfigError` naming each field as it
is written on the command line (`config.train.batch_size=0`) with what it accepts.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from collections.abc import Callable, Sequence
from typing import Any

import ml_collections

from recall_jax.data.registry import DATASET_NAMES, PATH_EXAMPLES, SPLIT_NAMES
from recall_jax.errors import ConfigError
from recall_jax.evaluation.protocol import SEEN_ITEM_POLICIES
from recall_jax.evaluation.sampled import PROTOCOLS
from recall_jax.models import ENCODERS, ITEM_TOWERS, OBJECTIVES, check_objective
from recall_jax.models.dropout import DROPOUT_IMPLS
from recall_jax.models.transformer import (ACTIVATIONS, ATTENTION_IMPLEMENTATIONS, BLOCK_STYLES,
                                         COMPUTE_DTYPES)
from recall_jax.text.bert import POOLINGS
from recall_jax.train.losses import LOSSES, NEGATIVE_SAMPLERS
from recall_jax.core.sharding import DATA_AXIS, MODEL_AXIS
from recall_jax.retrieval.faiss_index import FaissSettings
from recall_jax.retrieval.strategies import BASELINES, REFERENCE, STRATEGIES

# compare.models (recall_jax.compare.MODEL_KINDS; that module sets up devices on import).
COMPARE_MODELS = ("dot", "cosine")
MESH_AXES = (DATA_AXIS, MODEL_AXIS)
# train.prng_impl: jax PRNG implementations the trainer can make the run's keys with
# (recall_jax.train.trainer, which imports this module).
PRNG_IMPLS = ("threefry2x32", "rbg", "unsafe_rbg")
FAISS_FIELDS = {field.name for field in dataclasses.fields(FaissSettings)}
SELECTION_METRIC = re.compile(r"^(HR|Recall|NDCG|MRR)@(\d+)$")


class _Problems:
    """Collects "config.<field>=<value>: <what is allowed>" lines."""

    def __init__(self, config: ml_collections.ConfigDict):
        self.config = config
        self.lines: list[str] = []

    def value(self, field: str) -> Any:
        node = self.config
        for part in field.split("."):
            node = node[part]
        return node

    def add(self, field: str, expected: str) -> None:
        self.lines.append(f"config.{field}={self.value(field)!r}: {expected}")

    def check(self, field: str, accept: Callable[[Any], bool], expected: str) -> None:
        try:
            accepted = bool(accept(self.value(field)))
        except (TypeError, ValueError):
            accepted = False
        if not accepted:
            self.add(field, expected)

    def choice(self, field: str, choices: Sequence[str]) -> None:
        self.check(field, lambda v: v in choices, f"expected one of {list(choices)}")

    def integer(self, field: str, minimum: int) -> None:
        self.check(field, lambda v: _is_int(v) and v >= minimum,
                   f"expected an integer >= {minimum}")

    def number(self, field: str, low: float, high: float, *, low_open: bool = False,
               high_open: bool = False) -> None:
        def accept(v):
            if not _is_number(v):
                return False
            above = v > low if low_open else v >= low
            below = v < high if high_open else v <= high
            return above and below
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        self.check(field, accept, f"expected a number in {left}{low:g}, {high:g}{right}")

    def integers(self, field: str, minimum: int, *, nonempty: bool = True) -> None:
        self.check(field, lambda v: isinstance(v, (tuple, list)) and (len(v) or not nonempty)
                   and all(_is_int(x) and x >= minimum for x in v),
                   f"expected a {'non-empty ' if nonempty else ''}sequence of integers >= "
                   f"{minimum}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _check_data(p: _Problems) -> None:
    data = p.config.data
    p.choice("data.name", DATASET_NAMES)
    p.choice("data.split", SPLIT_NAMES)
    minimum_events = 3 if data.split == "leave_one_out" else 1
    p.check("data.min_user_events", lambda v: _is_int(v) and v >= minimum_events,
            f"expected an integer >= {minimum_events} (leave-one-out needs one training event, "
            "one validation and one test target)" if minimum_events == 3
            else "expected an integer >= 1")
    p.number("data.validation_quantile", 0.0, 1.0, low_open=True)
    p.number("data.test_quantile", 0.0, 1.0, low_open=True)
    if (_is_number(data.validation_quantile) and _is_number(data.test_quantile)
            and data.validation_quantile > data.test_quantile):
        p.add("data.validation_quantile",
              f"must not exceed config.data.test_quantile={data.test_quantile!r}")
    p.number("data.cold_start_share", 0.0, 1.0, high_open=True)
    p.integer("data.cold_start_seed", 0)
    p.integer("data.min_rating", 0)
    p.check("data.delimiter", lambda v: isinstance(v, str) and len(v) == 1 and v not in "\r\n",
            "expected one character other than a newline")
    if data.root:
        p.check("data.root", lambda v: pathlib.Path(v).expanduser().is_dir(),
                "no such folder; expected the folder holding ml-1m/ and ml-100k/")
    if data.name == "generic":
        p.check("data.interactions_path", bool,
                "data.name='generic' needs a user,item[,timestamp] file here")
    if data.name in PATH_EXAMPLES:
        p.check("data.path", lambda v: isinstance(v, str) and v.strip(),
                f"data.name={data.name!r} needs its data file here, e.g. "
                f"--config.data.path={PATH_EXAMPLES[data.name]}")
    if data.name == "recbole":
        for field, example in (("user_field", "user_id"), ("item_field", "item_id")):
            p.check(f"data.{field}", lambda v: isinstance(v, str) and v.strip(),
                    f"expected the name of a field of the .inter header, e.g. {example!r}")
        p.check("data.time_field", lambda v: isinstance(v, str),
                "expected the name of the .inter file's time field (absent: file order)")
    p.check("data.label", lambda v: isinstance(v, str),
            "expected a string: the dataset name on results pages ('': the data file's stem)")
    if data.name != "ml-1m-ratings" and data.min_rating:
        p.add("data.min_rating", "only data.name='ml-1m-ratings' reads ratings; leave it 0")
    if data.name == "synthetic":
        for field in ("num_users", "num_items", "num_topics"):
            p.integer(f"data.synthetic.{field}", 1)
        p.number("data.synthetic.mean_length", 1.0, float("inf"))


def _check_model(p: _Problems) -> None:
    model = p.config.model
    p.choice("model.name", ENCODERS.names())
    p.choice("model.objective", OBJECTIVES.names())
    for field in ("max_len", "embed_dim", "num_blocks", "num_heads", "mlp_ratio",
                  "text_max_length"):
        p.integer(f"model.{field}", 1)
    if _is_int(model.embed_dim) and _is_int(model.num_heads) and model.num_heads > 0 \
            and model.embed_dim % model.num_heads:
        p.add("model.embed_dim", f"must be divisible by config.model.num_heads="
                                 f"{model.num_heads}")
    p.integer("model.time_buckets", 0)
    if _is_int(model.time_buckets) and model.time_buckets > 0 and model.name != "hstu":
        p.add("model.time_buckets", f"only the hstu encoder has a time bias, not "
                                    f"{model.name!r}; leave it 0")
    p.number("model.dropout_rate", 0.0, 1.0, high_open=True)
    p.number("model.attention_dropout_rate", 0.0, 1.0, high_open=True)
    p.choice("model.activation", tuple(ACTIVATIONS))
    p.choice("model.attention_implementation", ATTENTION_IMPLEMENTATIONS)
    p.choice("model.block_style", BLOCK_STYLES)
    p.choice("model.compute_dtype", tuple(COMPUTE_DTYPES))
    p.choice("model.dropout_impl", DROPOUT_IMPLS)
    p.number("model.temperature", 0.0, float("inf"), low_open=True)
    p.number("model.mask_rate", 0.0, 1.0, low_open=True, high_open=True)
    p.choice("model.item_tower", ITEM_TOWERS.names())
    p.number("model.item_id_dropout", 0.0, 1.0, high_open=True)
    tower = ITEM_TOWERS.get(model.item_tower) if model.item_tower in ITEM_TOWERS else None
    if model.item_id_dropout and tower is not None and not (tower.uses_id and tower.uses_text):
        p.add("model.item_id_dropout", "only item towers of ids and text (e.g. 'id+text') "
                                       "drop ids; leave it 0.0")
    p.choice("model.text_pooling", POOLINGS)
    if tower is not None and tower.uses_text:
        _check_text_checkpoint(p)
    if model.name in ENCODERS and model.objective in OBJECTIVES:
        try:  # constructs the encoder module only: nothing is initialised
            check_objective(model)
        except ConfigError as error:
            p.lines.append(str(error))


def _check_text_checkpoint(p: _Problems) -> None:
    """The text model folder (or hub id) of a text item tower exists and is complete."""
    from recall_jax.text.checkpoint import (CheckpointFormatError,  # noqa: PLC0415
                                            check_folder, resolve_checkpoint)
    try:
        check_folder(resolve_checkpoint(p.config.model.text_checkpoint))
    except CheckpointFormatError as error:
        p.add("model.text_checkpoint", str(error))


def _check_loss_and_optimizer(p: _Problems) -> None:
    p.choice("loss.name", LOSSES.names())
    p.integer("loss.num_sampled", 1)
    p.integer("loss.num_in_batch", 0)
    p.choice("loss.sampler", NEGATIVE_SAMPLERS)
    p.number("optimizer.learning_rate", 0.0, float("inf"), low_open=True)
    p.integer("optimizer.warmup_steps", 0)
    p.number("optimizer.end_learning_rate_factor", 0.0, 1.0)
    p.number("optimizer.weight_decay", 0.0, float("inf"))
    p.number("optimizer.beta1", 0.0, 1.0, high_open=True)
    p.number("optimizer.beta2", 0.0, 1.0, high_open=True)
    p.number("optimizer.gradient_clip_norm", 0.0, float("inf"))


def _check_train_and_eval(p: _Problems) -> None:
    train, evaluation = p.config.train, p.config.eval
    for field in ("num_epochs", "batch_size", "eval_every_epochs", "early_stopping_patience",
                  "checkpoints_to_keep", "log_every_steps"):
        p.integer(f"train.{field}", 1)
    p.integers("train.bucket_lengths", 1, nonempty=False)
    p.number("train.max_train_minutes", 0.0, float("inf"))
    p.choice("train.prng_impl", PRNG_IMPLS)
    p.integers("eval.ks", 1)
    for field in ("batch_size", "user_chunk", "item_chunk", "content_history"):
        p.integer(f"eval.{field}", 1)
    p.integer("eval.bootstrap_resamples", 0)
    p.integer("eval.bootstrap_seed", 0)
    p.choice("eval.seen_items", SEEN_ITEM_POLICIES)
    p.choice("eval.protocol", PROTOCOLS)
    p.integer("eval.sampled_negatives", 1)
    p.integer("eval.sampled_seed", 0)
    match = SELECTION_METRIC.match(str(train.selection_metric))
    ks = tuple(evaluation.ks) if isinstance(evaluation.ks, (tuple, list)) else ()
    if match is None or int(match.group(2)) not in ks:
        p.add("train.selection_metric", "expected HR@K, Recall@K, NDCG@K or MRR@K with K in "
                                        f"config.eval.ks={ks}")


def _check_mesh(p: _Problems, num_devices: int | None) -> None:
    p.integer("mesh.model_parallelism", 1)
    parallelism = p.config.mesh.model_parallelism
    if num_devices is not None and _is_int(parallelism) and parallelism >= 1 \
            and num_devices % parallelism:
        p.add("mesh.model_parallelism", f"must divide the number of devices ({num_devices})")
    for index, rule in enumerate(p.config.mesh.parameter_rules):
        try:
            pattern, spec = rule
            re.compile(pattern)
            valid = all(axis is None or axis in MESH_AXES for axis in spec)
        except (TypeError, ValueError, re.error):
            valid = False
        if not valid:
            p.lines.append(f"config.mesh.parameter_rules[{index}]={rule!r}: expected (regex, "
                           f"partition spec of {list(MESH_AXES)} or None)")


def _check_compare(p: _Problems) -> None:
    compare = p.config.compare
    p.check("compare.models", lambda v: isinstance(v, (tuple, list)) and len(v)
            and set(v) <= set(COMPARE_MODELS), f"expected a non-empty subset of "
            f"{list(COMPARE_MODELS)}")
    for field, registry in (("compare.strategies", STRATEGIES), ("compare.baselines", BASELINES)):
        known = registry.names()
        p.check(field, lambda v, known=known: isinstance(v, (tuple, list))
                and len(set(v)) == len(v) and set(v) <= set(known),
                f"expected distinct names of {list(known)}")
    p.check("compare.strategies", lambda v: REFERENCE in v,
            f"must include {REFERENCE!r}, every other strategy's reference")
    p.integers("compare.ks", 1)
    p.integers("compare.sweep_sizes", 1)
    for field in ("latency_queries", "timing_repeats", "tuning_users", "tuning_k",
                  "threshold_mean_size", "hybrid_k_max"):
        p.integer(f"compare.{field}", 1)
    p.integer("compare.item_cf_neighbours", 0)
    p.integer("compare.item_cf_recent", 0)
    p.number("compare.tuning_target_recall", 0.0, 1.0, low_open=True)
    p.number("compare.approx_recall_target", 0.0, 1.0, low_open=True)
    p.number("compare.oversized_factor", 1.0, float("inf"), low_open=True)
    for kind in COMPARE_MODELS:
        field = f"compare.{kind}_model_workdir"
        if p.value(field):
            p.check(field, lambda v: pathlib.Path(v).is_dir(),
                    "no such folder; expected a finished run of python -m recall_jax.main")
    scann = compare.scann
    for field in ("num_leaves", "num_leaves_to_search", "dimensions_per_block", "reorder"):
        p.integer(f"compare.scann.{field}", 1)
    if _is_int(scann.num_leaves) and _is_int(scann.num_leaves_to_search) \
            and scann.num_leaves_to_search > scann.num_leaves:
        p.add("compare.scann.num_leaves_to_search",
              f"must not exceed config.compare.scann.num_leaves={scann.num_leaves}")
    faiss = compare.faiss
    for field in ("hnsw_m", "hnsw_ef_construction", "hnsw_ef_search", "ivf_num_probes",
                  "pq_dimensions_per_block", "training_sample_size"):
        p.integer(f"compare.faiss.{field}", 1)
    for field in ("ivf_num_lists", "threads"):
        p.integer(f"compare.faiss.{field}", 0)
    p.number("compare.faiss.refine_k_factor", 1.0, float("inf"))
    if _is_int(faiss.ivf_num_lists) and _is_int(faiss.ivf_num_probes) \
            and 0 < faiss.ivf_num_lists < faiss.ivf_num_probes:
        p.add("compare.faiss.ivf_num_probes",
              f"must not exceed config.compare.faiss.ivf_num_lists={faiss.ivf_num_lists}")
    unknown = sorted(set(faiss.keys()) - FAISS_FIELDS)
    if unknown:
        p.lines.append(f"config.compare.faiss has unknown fields {unknown}: expected some of "
                       f"{sorted(FAISS_FIELDS)}")


def validate_config(config: ml_collections.ConfigDict, num_devices: int | None = None) -> None:
    """Raise ConfigError listing every problem of `config`; num_devices checks the mesh."""
    problems = _Problems(config)
    for check in (_check_data, _check_model, _check_loss_and_optimizer, _check_train_and_eval,
                  _check_compare):
        try:
            check(problems)
        except (AttributeError, KeyError) as error:
            problems.lines.append(f"config lacks a field ({error}); start from "
                                  "experiments/configs/default.py")
    _check_mesh(problems, num_devices)
    if problems.lines:
        raise ConfigError("; ".join(problems.lines) + " ; see experiments/configs/default.py "
                          "for every field and its meaning")
