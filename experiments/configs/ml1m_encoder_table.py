"""The encoder x item-tower table on ML-1M chrono-all: every behaviour encoder with the id and
the id+text item tower, one seed each, at one budget.

Protocol and optimiser of ml1m_chrono_sasrec.py (all 3,706 items, leave-one-out, history
excluded, full softmax); 15 epochs each (the cosine schedule decays over these 15), so the
eight runs fit in a few hours on a 2-core CPU. Pick the encoder and tower on the command line
(scripts/run_encoder_table.sh runs all eight):
    --config.model.name=hstu --config.model.item_tower=id+text
"""

from experiments.configs import ml1m_chrono_sasrec


def get_config():
    config = ml1m_chrono_sasrec.get_config()
    config.train.num_epochs = 15
    return config
