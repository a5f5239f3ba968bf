"""Trainables: the course's registries (datasets, backbones, methods, cells) and one trainable per method family.

Importing this package is cheap: torch and TensorFlow are imported only inside the trial processes that need them.
"""
