"""Entry points: the `cadrecon` CLI (and, later, deployments and the REST API)."""
