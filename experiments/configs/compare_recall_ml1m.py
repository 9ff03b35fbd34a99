"""Every recall strategy on the ML-1M chrono-all SASRec models, dot-product and cosine (each
trained in <workdir>/<kind>_model unless compare.dot_model_workdir / cosine_model_workdir
point at finished runs of ml1m_chrono_sasrec.py / ml1m_chrono_sasrec_cosine.py)."""

from experiments.configs import ml1m_chrono_sasrec


def get_config():
    config = ml1m_chrono_sasrec.get_config()
    # Item-CF voting with the last 3 items only, beside the whole history: 3 was the best of
    # 1, 2, 3, 5, 8 by HR@10 on ML-1M validation users.
    config.compare.item_cf_recent = 3
    return config
