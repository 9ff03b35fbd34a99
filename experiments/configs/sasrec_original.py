"""SASRec at its original size on ml-1m.txt, for the throughput benchmarks.

Hidden 50, 2 blocks, 1 head, max_len 200, feed-forward width 50 with ReLU, dropout 0.2, binary
cross-entropy with one sampled negative per position, batch 128 (Kang & McAuley, 2018).
"""

from experiments.configs import default


def get_config():
    config = default.get_config()
    config.data.name = "ml-1m-sasrec"
    config.model.update(embed_dim=50, num_blocks=2, num_heads=1, max_len=200, mlp_ratio=1,
                        activation="relu", dropout_rate=0.2, attention_dropout_rate=0.0)
    config.loss.name = "binary_cross_entropy"
    config.train.batch_size = 128
    return config
