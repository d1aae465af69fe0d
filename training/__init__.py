"""Datasets, training, evaluation and reports for analysts."""
