"""Benchmarks of mlflow-tf1 against raw TensorFlow; run ``benchmarks/run.py``."""
