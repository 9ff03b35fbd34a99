"""optax AdamW with linear warm-up, cosine decay and global-norm clipping."""

from __future__ import annotations

import jax
import optax


def learning_rate_schedule(optimizer_config, total_steps: int) -> optax.Schedule:
    """Linear warm-up to `optimizer_config.learning_rate`, then cosine decay to `end_factor` of it."""
    warmup = min(optimizer_config.warmup_steps, max(total_steps - 1, 0))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=optimizer_config.learning_rate, warmup_steps=warmup,
        decay_steps=max(total_steps, warmup + 1),
        end_value=optimizer_config.learning_rate * optimizer_config.end_learning_rate_factor)


def make_optimizer(optimizer_config, total_steps: int) -> optax.GradientTransformation:
    """Clip by global norm, then AdamW; weight decay only on matrices (not biases or norms)."""
    def decay_mask(params):
        # Matrices decay; biases, norms and the frozen text table do not.
        return jax.tree_util.tree_map_with_path(
            lambda path, p: p.ndim >= 2 and "text_table" not in jax.tree_util.keystr(path),
            params)

    return optax.chain(
        optax.clip_by_global_norm(optimizer_config.gradient_clip_norm),
        optax.adamw(learning_rate_schedule(optimizer_config, total_steps), b1=optimizer_config.beta1,
                    b2=optimizer_config.beta2, weight_decay=optimizer_config.weight_decay, mask=decay_mask))
