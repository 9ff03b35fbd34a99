"""SASRec+ (full cross-entropy) on ml-1m.txt with the authors' own block structure, against the
same published row as klenitskiy_sasrec_ce.py (Klenitskiy & Vasilev, RecSys 2023: HR@10 0.3152,
NDCG@10 0.1821).

klenitskiy_sasrec_ce.py with the two model differences its docstring names as the likeliest
causes of its gap, as their code has them (adapted from the pmixer SASRec.pytorch port of the
original SASRec): the original SASRec block (model.block_style="sasrec": the normalised queries
attend over the raw inputs and carry the residual, LayerNorm after it) and attention weights
dropped at the dropout rate, 0.1. Still different: positions count from the window's end (theirs,
right-padded: from the first item), AdamW without weight decay, clipping at global norm 1.
"""

from experiments.configs.reproduce import klenitskiy_sasrec_ce


def get_config():
    config = klenitskiy_sasrec_ce.get_config()
    config.model.update(block_style="sasrec", attention_dropout_rate=0.1)
    return config
