"""Evaluation over the whole mesh equals single-device evaluation.

Runs in a subprocess with 8 CPU devices: users split over the data axis, items over the model
axis (meshes 4 x 2, 2 x 4 and 1 x 8), catalogues of 3,417 and 3,707 items (the 3,418 and
3,708 rows of ml-1m.txt and chrono-all, which 4 and 8 do not divide), with seen-item
exclusions, tied scores and several item chunks. With fixed-order scores (audit) the ranks,
ties and top lists are identical; with the default matrix product they differ at most where
scores round differently in the last bit.
"""

from __future__ import annotations


import pytest
from probes import run_on_cpu_devices


PROBE = """
import json
import jax, numpy as np
from recall_jax.evaluation.protocol import seen_item_exclusions
from recall_jax.evaluation.ranking import _item_rows_on_mesh, rank_all_items
from recall_jax.core import sharding

rng = np.random.default_rng(0)
out = {"devices": jax.device_count(), "rankings": [], "item_rows": []}
for num_items in (3417, 3707):
    num_users = 203
    users = rng.normal(size=(num_users, 24)).astype(np.float32)
    items = rng.normal(size=(num_items + 1, 24)).astype(np.float32)
    items[11] = items[5]  # exact ties, broken by item id
    items[num_items] = items[2]  # a tie across model shards
    users[:20] = 0.0  # every item ties for these users
    lengths = rng.integers(0, 30, num_users)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    histories = rng.integers(1, num_items + 1, offsets[-1])
    targets = rng.integers(1, num_items + 1, num_users)
    targets[20:40] = histories[offsets[20:40]]  # repeated targets (excluded: not ranked)
    targets[40:60] = num_items  # targets in the last shard
    exclusions = seen_item_exclusions(offsets, histories, targets, "exclude")
    for audit in (True, False):
        for item_chunk in (None, 256):
            reference = rank_all_items(users, items, targets, exclusions, max_k=50,
                                       item_chunk=item_chunk, audit=audit)
            for data, model in ((4, 2), (2, 4), (1, 8)):
                mesh = sharding.make_mesh(model)
                on_device = jax.device_put(items, sharding.replicated(mesh))
                result = rank_all_items(users, on_device, targets, exclusions, max_k=50,
                                        user_chunk=64, item_chunk=item_chunk, audit=audit,
                                        mesh=mesh)
                same_ranks = result.target_ranks == reference.target_ranks
                out["rankings"].append({
                    "num_items": num_items, "audit": audit, "item_chunk": item_chunk,
                    "mesh": [data, model],
                    "ranks_equal": bool(same_ranks.all()),
                    "ties_equal": bool(np.array_equal(result.target_ties,
                                                      reference.target_ties)),
                    "top_equal": bool(np.array_equal(result.top_items, reference.top_items)),
                    "score_gap": float(np.abs(result.top_scores - reference.top_scores).max()),
                    "rank_gap": int(np.abs(result.target_ranks - reference.target_ranks).max()),
                    "excluded": int((reference.target_ranks == -1).sum()),
                    "top_all_ties_first": reference.top_items[0, :3].tolist()})
            rows = sharding.make_mesh(8)
            placed, finite = _item_rows_on_mesh(jax.numpy.asarray(items), rows=8 * 464,
                                                num_items=num_items, mesh=rows)
            out["item_rows"].append({"row_axis": placed.sharding.spec[0],
                                     "shard_rows": placed.sharding.shard_shape(placed.shape)[0]})
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def probe():
    return run_on_cpu_devices(PROBE, devices=8, timeout=600)


def test_fixed_order_scores_give_identical_rankings_on_every_mesh(probe):
    assert probe["devices"] == 8
    audited = [row for row in probe["rankings"] if row["audit"]]
    assert len(audited) == 2 * 2 * 3
    for row in audited:
        assert row["ranks_equal"] and row["ties_equal"] and row["top_equal"], row
        assert row["score_gap"] == 0.0, row
        assert row["excluded"] >= 20, row  # the repeated targets are misses on every mesh


def test_default_scores_agree_up_to_last_bit_rounding(probe):
    for row in probe["rankings"]:
        if not row["audit"]:
            assert row["score_gap"] < 1e-4, row
            assert row["rank_gap"] <= 2, row


def test_equal_scores_go_by_item_id_across_shards(probe):
    # A user with a zero vector ties every item: the top list is items 1, 2, 3 on every mesh.
    for row in probe["rankings"]:
        assert row["top_all_ties_first"] == [1, 2, 3], row


def test_item_rows_are_split_over_the_model_axis(probe):
    for row in probe["item_rows"]:
        assert row["row_axis"] == "model"
        assert row["shard_rows"] == 464
