"""The original SASRec paper's setting and SAMPLED protocol on ml-1m.txt (Kang & McAuley,
"Self-Attentive Sequential Recommendation", ICDM 2018): HR@10 0.8245, NDCG@10 0.5905, each test
item ranked against 100 randomly sampled items the user has not interacted with.

Hidden 50, 2 blocks, 1 head, max_len 200, feed-forward 50 with ReLU, dropout 0.2, binary
cross-entropy with one sampled negative per position, Adam at 1e-3, batch 128, up to 200 epochs,
and the paper's block (model.block_style="sasrec": normalised queries attend over the raw
inputs and carry the residual) with attention weights dropped at 0.2, as in its code.
Sampled figures are far above full-ranking ones and never comparable with them.
"""

from experiments.configs import sasrec_original


def get_config():
    config = sasrec_original.get_config()
    config.model.update(block_style="sasrec", attention_dropout_rate=0.2)
    config.optimizer.update(learning_rate=1e-3, warmup_steps=0, end_learning_rate_factor=1.0)
    config.train.update(num_epochs=200, early_stopping_patience=20)
    config.train.bucket_lengths = (16, 32, 48, 64, 96, 128, 160, 200)
    config.eval.protocol = "sampled"
    config.eval.sampled_negatives = 100
    return config
