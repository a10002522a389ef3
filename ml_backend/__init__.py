"""Earmark's ML backend.

Two layers: pure PyTorch/NumPy modules (features, model, train, pretrain, infer, uncertainty,
segments, baselines) that never import Django, and a thin Django layer (models, tasks,
services) around them.
"""
