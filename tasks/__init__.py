"""Prefect tasks: thin wrappers that call cadlib/vlm on one shard of models and write its outputs."""
