"""What every layer shares and nothing above it owns: item-id conventions, CSR helpers, array
shapes, the device mesh, candidate sets and the registry of named extension points.

Modules here import nothing else from recall_jax but `errors`, so data, models, evaluation,
retrieval and training can all use them without importing one another.
"""
