"""Per-item tables always split over the model axis: padded rows, never a silent replication.

Runs in a subprocess with 8 CPU devices (XLA_FLAGS), for the ml-1m.txt and ML-1M chrono-all
catalogues (3,418 and 3,708 table rows) and model axes 2, 4 and 8.
"""

from __future__ import annotations


import pytest
from probes import run_on_cpu_devices

from recall_jax.models.sequential_recommender import padded_rows


PROBE = """
import json, sys
import jax, numpy as np
from experiments.configs import default
from recall_jax.errors import ConfigError
from recall_jax.models import build_model
from recall_jax.core import sharding
from recall_jax.train import trainer
from recall_jax.train.optimizer import make_optimizer
out = {"devices": jax.device_count(), "tables": [], "errors": []}
for num_items in (3416, 3706):
    for parallelism in (2, 4, 8):
        config = default.get_config()
        config.model.max_len = 16
        config.mesh.model_parallelism = parallelism
        mesh = sharding.make_mesh(parallelism)
        model = build_model(config.model, num_items, table_rows_multiple=parallelism)
        example = np.zeros((8, 16), np.int32)
        _, abstract, shardings = trainer._state_initializer(
            model, make_optimizer(config.optimizer, 10), config, mesh, example)
        table = shardings.params["item_embedding"]["embedding"]
        shape = abstract.params["item_embedding"]["embedding"].shape
        params = model.init(jax.random.key(0), example)["params"]
        items = model.apply({"params": params}, method=model.item_vectors)
        out["tables"].append({"num_items": num_items, "parallelism": parallelism,
                              "rows": shape[0], "spec": str(table.spec),
                              "shard_rows": table.shard_shape(shape)[0],
                              "scored_rows": items.shape[0]})
config = default.get_config()
config.model.max_len = 201
config.mesh.model_parallelism = 2
config.mesh.parameter_rules = (("position_embedding/embedding", ("model", None)),)
model = build_model(config.model, 100, table_rows_multiple=2)
for replicate in (False, True):
    config.mesh.replicate_unsplittable = replicate
    try:
        _, _, shardings = trainer._state_initializer(
            model, make_optimizer(config.optimizer, 10), config, sharding.make_mesh(2),
            np.zeros((8, 16), np.int32))
        out["errors"].append(str(shardings.params["encoder"]["position_embedding"]["embedding"].spec))
    except ConfigError as error:
        out["errors"].append("ConfigError: " + str(error))
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def probe():
    return run_on_cpu_devices(PROBE, devices=8, timeout=300)


@pytest.mark.parametrize("num_items", [3416, 3706])
@pytest.mark.parametrize("parallelism", [2, 4, 8])
def test_item_table_is_split_over_the_model_axis(probe, num_items, parallelism):
    assert probe["devices"] == 8
    [table] = [t for t in probe["tables"]
               if (t["num_items"], t["parallelism"]) == (num_items, parallelism)]
    rows = padded_rows(num_items + 2, parallelism)
    assert table["rows"] == rows and rows % parallelism == 0 and rows - (num_items + 2) < parallelism
    assert table["spec"] == "P('model', None)"
    assert table["shard_rows"] == rows // parallelism
    assert table["scored_rows"] == num_items + 1  # padded rows are never scored


def test_a_rule_that_cannot_split_is_an_error_unless_replication_is_asked_for(probe):
    error, replicated = probe["errors"]
    assert error.startswith("ConfigError: config.mesh.parameter_rules: parameter "
                            "params/encoder/position_embedding/embedding of shape (201, 64)")
    assert "replicate_unsplittable" in error
    assert replicated == "P()"


def test_padding_rows_leave_the_initial_table_unchanged():
    """The same model whatever the mesh: real rows equal the unpadded table's, padding is zero."""
    import jax  # noqa: PLC0415

    from experiments.configs import default  # noqa: PLC0415
    from recall_jax.models import build_model  # noqa: PLC0415
    config = default.get_config().model
    config.max_len = 8
    example = jax.numpy.zeros((2, 8), jax.numpy.int32)
    plain = build_model(config, 61).init(jax.random.key(0), example)["params"]
    padded = build_model(config, 61, table_rows_multiple=8).init(jax.random.key(0),
                                                                 example)["params"]
    table, padded_table = (p["item_embedding"]["embedding"] for p in (plain, padded))
    assert padded_table.shape == (64, 64) and table.shape == (63, 64)
    assert (padded_table[:63] == table).all() and (padded_table[63:] == 0).all()
