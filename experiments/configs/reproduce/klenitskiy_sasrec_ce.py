"""SASRec+ (full cross-entropy) on ml-1m.txt, after Klenitskiy & Vasilev, "Turning Dross Into Gold
Loss: is BERT4Rec really better than SASRec?" (RecSys 2023): HR@10 0.3152, NDCG@10 0.1821.

Their settings: hidden 64, 2 blocks, 1 head, point-wise feed-forward of width 64 with ReLU,
dropout 0.1, max_len 200, batch 128, Adam at a constant 1e-3, up to 100 epochs with early
stopping after 10 without a validation gain, full ranking with seen items filtered.
Differences: AdamW without weight decay and clipping at global norm 1 (theirs: Adam, no
clipping), length-bucketed batches. Their model (src/models.py of their repository, adapted from
the pmixer SASRec.pytorch code) also differs in ways recall_jax's Transformer does not express,
the likeliest causes of the gap measured here (test HR@10 0.2712, NDCG@10 0.1546 against
0.3152 / 0.1821, experiments/runs/reproduce/klenitskiy_sasrec_ce):
- each block adds its residual to the LayerNorm output, x = LN(x) + MHA(LN(x)) and then
  x = LN(x) + FFN(LN(x)) (recall_jax: pre-LayerNorm blocks, x = x + MHA(LN(x)));
- attention weights are dropped at the dropout rate (nn.MultiheadAttention(dropout=0.1));
  here attention_dropout_rate stays 0;
- sequences are right-padded, so position embeddings count from the first item (recall_jax
  counts from the window's end).
"""

from experiments.configs import default


def get_config():
    config = default.get_config()
    config.data.name = "ml-1m-sasrec"
    config.model.update(name="sasrec", objective="next_item", embed_dim=64, num_blocks=2,
                        num_heads=1, mlp_ratio=1, activation="relu", dropout_rate=0.1,
                        max_len=200)
    config.loss.name = "full_softmax"
    config.optimizer.update(learning_rate=1e-3, warmup_steps=0, end_learning_rate_factor=1.0)
    config.train.update(batch_size=128, num_epochs=100, early_stopping_patience=10)
    config.train.bucket_lengths = (16, 32, 48, 64, 96, 128, 160, 200)
    return config
