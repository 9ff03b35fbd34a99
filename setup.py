"""recall_jax: Transformer two-tower recall experiments in JAX."""

from setuptools import find_packages, setup

# Floors, not pins: jax.set_mesh and AxisType need jax 0.7; optax.tree.norm needs optax 0.2.5.
RUNTIME = [
    "numpy>=1.26",
    "jax>=0.7.0",
    "flax>=0.10.7",
    "optax>=0.2.5",
    "orbax-checkpoint>=0.9",
    "etils[epath]>=1.5",
    "ml-collections>=0.1.1",
    "absl-py>=1.4",
    "scann>=1.3",
    "transformers>=4.40",
    "safetensors>=0.4",
    "tqdm>=4.66",
    "tensorboardX>=2.6",
    "matplotlib>=3.8",
    "faiss-cpu>=1.8",
]

EXTRAS = {
    "cuda": ["jax[cuda12]>=0.7.0"],
    "tpu": ["jax[tpu]>=0.7.0"],
    # A workdir in a bucket: gs://... through etils.epath and gcsfs.
    "gcs": ["etils[epath-gcs]>=1.5"],
    "dev": [
        "pytest>=8",
        "pytest-xdist>=3.5",
        "nbclient>=0.10",
        "nbformat>=5.9",
        "ipykernel>=6.29",
    ],
}

setup(
    name="recall_jax",
    version="0.1.0",
    description="Transformer behaviour encoders, two-tower training and recall strategy comparisons in JAX.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["recall_jax", "recall_jax.*", "experiments", "experiments.*"]),
    install_requires=RUNTIME,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["recall-jax=recall_jax.console:run"]},
)
