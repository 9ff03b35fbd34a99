"""ml1m_chrono_sasrec.py with cosine scores (both towers L2-normalised, temperature 0.05): the
model on which the recall comparison measures cosine thresholds against top-K."""

from experiments.configs import ml1m_chrono_sasrec


def get_config():
    config = ml1m_chrono_sasrec.get_config()
    config.model.normalize = True
    return config
