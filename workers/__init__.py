"""Headstart Celery workers: embedding, training, prediction and input reads."""
