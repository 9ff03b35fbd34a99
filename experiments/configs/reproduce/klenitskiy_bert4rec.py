"""BERT4Rec on ml-1m.txt, after Klenitskiy & Vasilev (RecSys 2023): HR@10 0.2843, NDCG@10 0.1537
(the generative-recommenders README lists the same row). Hidden 64, 2 layers, 2 heads,
feed-forward 256 with GELU, dropout 0.1, 20% of items masked, up to 200 epochs with early
stopping after 20 without a validation gain; the rest as klenitskiy_sasrec_ce.py."""

from experiments.configs.reproduce import klenitskiy_sasrec_ce


def get_config():
    config = klenitskiy_sasrec_ce.get_config()
    config.model.update(name="bert4rec", objective="cloze", num_heads=2, mlp_ratio=4,
                        activation="gelu", mask_rate=0.2)
    config.train.update(num_epochs=200, early_stopping_patience=20)
    return config
