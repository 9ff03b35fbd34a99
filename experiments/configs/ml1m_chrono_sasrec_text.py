"""SASRec with the id+text item tower on ML-1M chrono-all, on the full schedule.

The schedule, protocol and optimiser of ml1m_chrono_sasrec.py; each item's vector is its id
embedding plus a trainable projection of its frozen all-MiniLM-L6-v2 text vector (title with
year, genres), so the run shows whether item text lifts warm-item quality once the id tower
has had all its epochs.
"""

from experiments.configs import ml1m_chrono_sasrec


def get_config():
    config = ml1m_chrono_sasrec.get_config()
    config.model.item_tower = "id+text"
    return config
