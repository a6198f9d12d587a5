"""Prefect tasks: thin wrappers that call cadlib/vlm and write the outputs: one shard of a dataset
stage, a training run, one reconstruction; their cache keys and artifacts."""
