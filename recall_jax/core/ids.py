"""Item-id conventions shared by every layer.

Catalogue items are 1..num_items; id 0 is padding (never ranked, never a target); the
bidirectional (cloze) objective adds a [MASK] token one past the last item.
"""

from __future__ import annotations

PADDING_ITEM = 0


def mask_token(num_items: int) -> int:
    """The [MASK] id: one past the last catalogue id (row num_items + 1 of the input table)."""
    return num_items + 1
