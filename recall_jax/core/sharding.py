"""Every decision about how arrays lie on the device mesh lives here.

The mesh has a "data" axis (batch parallelism) and a "model" axis (for splitting large tables);
parameters are placed by regex rules on their path, e.g. ("item_embedding/embedding",
("model", None)) to split the item table by rows. Anything unmatched is replicated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import jax
import numpy as np
from absl import logging
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from recall_jax.errors import ConfigError

DATA_AXIS = "data"
MODEL_AXIS = "model"


def make_mesh(model_parallelism: int = 1, devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A ("data", "model") mesh over all devices, with automatic (pjit-style) axis types."""
    devices = list(devices if devices is not None else jax.devices())
    if len(devices) % model_parallelism:
        raise ValueError(f"{len(devices)} devices cannot be split into model_parallelism="
                         f"{model_parallelism}")
    shape = (len(devices) // model_parallelism, model_parallelism)
    return jax.make_mesh(shape, (DATA_AXIS, MODEL_AXIS), devices=devices,
                         axis_types=(jax.sharding.AxisType.Auto,) * 2)


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading (batch) dimension split over the data axis."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def _path_string(path) -> str:
    return "/".join(str(getattr(key, "key", getattr(key, "name", getattr(key, "idx", key))))
                    for key in path)


def tree_shardings(abstract_tree, mesh: Mesh, rules: Sequence[tuple[str, Sequence]] = (),
                   replicate_unsplittable: bool = False):
    """A NamedSharding per leaf: the first rule whose regex matches the leaf's path, else replicated.

    A matching rule whose spec does not divide the leaf's shape is a ConfigError naming the
    parameter, its shape and the mesh (per-item tables are padded so that theirs always do);
    with replicate_unsplittable, such a leaf is replicated instead and a warning says so.
    """
    def choose(path, leaf):
        name = _path_string(path)
        for pattern, spec in rules:
            if re.search(pattern, name):
                spec = PartitionSpec(*spec)
                shape = tuple(getattr(leaf, "shape", ()))
                if _divides(spec, shape, mesh):
                    return NamedSharding(mesh, spec)
                problem = (f"parameter {name} of shape {shape} cannot be split as {spec} over "
                           f"the mesh {dict(mesh.shape)} (rule {pattern!r})")
                if not replicate_unsplittable:
                    raise ConfigError(f"config.mesh.parameter_rules: {problem} ; change the rule "
                                      "or config.mesh.model_parallelism, or set "
                                      "config.mesh.replicate_unsplittable=True to replicate it")
                logging.warning("%s: replicated instead (mesh.replicate_unsplittable)", problem)
                return replicated(mesh)
        return replicated(mesh)
    return jax.tree_util.tree_map_with_path(choose, abstract_tree)


def _divides(spec: PartitionSpec, shape, mesh: Mesh) -> bool:
    if len(spec) > len(shape):
        return False
    for axis_names, size in zip(spec, shape):
        if axis_names is None:
            continue
        names = axis_names if isinstance(axis_names, tuple) else (axis_names,)
        if size % int(np.prod([mesh.shape[name] for name in names])):
            return False
    return True


def global_batch(local_batch: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
    """This host's rows of a batch -> global arrays split over the data axis (multi-host safe)."""
    sharding = batch_sharding(mesh)
    return {name: jax.make_array_from_process_local_data(sharding, value)
            for name, value in local_batch.items()}
