"""SASRec with sampled softmax on ML-1M chrono-all, after the generative-recommenders README
(configs/ml-1m/sasrec-sampled-softmax-n128-final.gin): HR@10 0.2853, NDCG@10 0.1603.

Their settings: item dimension 50, 2 blocks, 1 head, feed-forward width 50 with ReLU, dropout
0.2, L2-normalised user and item vectors with temperature 0.05, softmax over the target and 128
uniformly sampled negatives, Adam at a constant 1e-3 without warm-up, batch 128, 101 epochs;
their SASRec module's block (model.block_style="sasrec": normalised queries attend over the raw
inputs and carry the residual, LayerNorm after it) with attention weights dropped at 0.2.
Differences: the model is taken at its best validation epoch (with early stopping after 20
evaluations without a gain), AdamW without weight decay, clipping at global norm 1; their
LayerNorms have no learned scale and offset and no final LayerNorm precedes the L2
normalisation.
"""

from experiments.configs import default


def get_config():
    config = default.get_config()
    config.data.name = "ml-1m-chrono-all"
    config.model.update(name="sasrec", objective="next_item", embed_dim=50, num_blocks=2,
                        num_heads=1, mlp_ratio=1, activation="relu", dropout_rate=0.2,
                        max_len=200, normalize=True, temperature=0.05, block_style="sasrec",
                        attention_dropout_rate=0.2)
    config.loss.update(name="sampled_softmax", num_sampled=128, num_in_batch=0,
                       sampler="uniform", logq_correction=True)
    config.optimizer.update(learning_rate=1e-3, warmup_steps=0, end_learning_rate_factor=1.0)
    config.train.update(batch_size=128, num_epochs=101, early_stopping_patience=20)
    config.train.bucket_lengths = (16, 32, 48, 64, 96, 128, 160, 200)
    return config
