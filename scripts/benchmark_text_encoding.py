"""Encodes the whole ML-1M catalogue (title with year, genres) with the Flax BERT text tower.

    python scripts/benchmark_text_encoding.py [--checkpoint FOLDER] [--batch-size 256]

Prints items/s and the wall time, including checkpoint loading, tokenisation and compilation.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import ml_collections  # noqa: E402

from recall_jax.data.registry import load_dataset  # noqa: E402
from recall_jax.text.checkpoint import resolve_checkpoint  # noqa: E402
from recall_jax.text.item_text_vectors import encode_texts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="", help="default: all-MiniLM-L6-v2")
    parser.add_argument("--dataset", default="ml-1m-chrono-all")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--max-length", type=int, default=64)
    args = parser.parse_args()
    started = time.perf_counter()
    dataset = load_dataset(ml_collections.ConfigDict({"name": args.dataset, "root": ""}))
    texts = dataset.catalogue.item_text()[1:]
    folder = resolve_checkpoint(args.checkpoint)
    vectors, rate = encode_texts(texts, folder, max_length=args.max_length,
                                 batch_size=args.batch_size)
    total = time.perf_counter() - started
    print(f"JAX {jax.__version__} on {jax.devices()}; checkpoint {folder}")
    print(f"example text: {texts[0]!r}")
    print(f"encoded {len(texts):,} item texts into {vectors.shape[1]}-d vectors: "
          f"{rate:,.0f} items/s (tokenise + compile + encode), {total:.1f} s wall in all")


if __name__ == "__main__":
    main()
