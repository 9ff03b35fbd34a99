"""Time to draw the shared negatives of one sampled-softmax step, old way against new, in one run:

    python scripts/benchmark_negative_sampling.py --sizes 12101 100000 --draws 1024

Rows: a Gumbel draw per item (jax.random.categorical over the catalogue, the former sampler)
against jax.random.randint (uniform) and an inverse-CDF binary search (popularity), each jit-ted,
median of --repeats calls after a warm-up; the ratio column is categorical / new. The
categorical draw materialises draws x items Gumbel noise (4 GB at 10^6 items), so keep the
sizes moderate; the new samplers cost O(draws) and O(draws log items).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from recall_jax.train.losses import item_cdf, popularity_negatives, uniform_shared_negatives


def median_ms(function, repeats: int) -> float:
    jax.block_until_ready(function(jax.random.PRNGKey(0)))  # compile
    times = []
    for seed in range(1, repeats + 1):
        started = time.perf_counter()
        jax.block_until_ready(function(jax.random.PRNGKey(seed)))
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[12_101, 100_000])
    parser.add_argument("--draws", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"JAX {jax.__version__} on {jax.default_backend()}; {args.draws} draws per call, median "
          f"of {args.repeats}")
    print("| items | categorical ms | randint ms | inverse CDF ms | categorical/randint | "
          "categorical/inverse CDF |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes:
        frequency = np.random.default_rng(0).zipf(1.3, size + 1).astype(np.float64)
        frequency[0] = 0.0
        log_probability = np.log(np.maximum(frequency / frequency.sum(), 1e-12))
        logits = jnp.asarray(log_probability, jnp.float32).at[0].set(-jnp.inf)
        cdf = jnp.asarray(item_cdf(log_probability))
        categorical = jax.jit(lambda rng: jax.random.categorical(rng, logits, shape=(args.draws,)))
        uniform = jax.jit(lambda rng: uniform_shared_negatives(rng, size, args.draws))
        popularity = jax.jit(lambda rng: popularity_negatives(rng, cdf, args.draws))
        old = median_ms(categorical, args.repeats)
        new_uniform = median_ms(uniform, args.repeats)
        new_popularity = median_ms(popularity, args.repeats)
        print(f"| {size:,} | {old:.3f} | {new_uniform:.3f} | {new_popularity:.3f} | "
              f"{old / new_uniform:.0f}x | {old / new_popularity:.0f}x |")


if __name__ == "__main__":
    main()
