"""Item towers: the named extension point `model.item_tower`.

An item tower turns catalogue ids into vectors from two sources the two-tower model owns: the
id embedding table and the item's frozen text vector through a trainable projection. A tower is
a function of those rows (`ItemTower`); adding one is a function plus one
`ITEM_TOWERS.register(...)` line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp

from recall_jax.core.registry import Registry


@dataclasses.dataclass(frozen=True)
class ItemTower:
    """combine(item_ids, by_id, text, mask_id) -> rows [..., dim].

    by_id: the id embedding rows (id dropout already applied); text: the projected text rows,
    or None when `uses_text` is False; mask_id: the [MASK] token's id, which has no text."""

    combine: Callable[[jax.Array, jax.Array, jax.Array | None, int], jax.Array]
    uses_text: bool
    uses_id: bool = True


def _id_only(item_ids, by_id, text, mask_id):
    return by_id


def _text_only(item_ids, by_id, text, mask_id):
    # The [MASK] token (bidirectional encoder) has no text; it keeps its id row.
    return jnp.where((item_ids == mask_id)[..., None], by_id, text)


def _id_plus_text(item_ids, by_id, text, mask_id):
    return by_id + text


ITEM_TOWERS: Registry[ItemTower] = Registry("item tower", "model.item_tower")
ITEM_TOWERS.register("id", ItemTower(_id_only, uses_text=False))
ITEM_TOWERS.register("text", ItemTower(_text_only, uses_text=True, uses_id=False))
ITEM_TOWERS.register("id+text", ItemTower(_id_plus_text, uses_text=True))
