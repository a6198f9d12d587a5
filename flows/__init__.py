"""Prefect flows: build_dataset, train, evaluate/reconstruct, nightly."""
