# cadrecon: the worker image of docker-compose.yml (flows served by `cadrecon serve`).
FROM python:3.11-slim

# Headless GL for the shaded renderer (EGL on Mesa's llvmpipe), as the Makefile installs.
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# torch first, the CPU build (a plain `pip install torch` would pull a multi-GB CUDA build).
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY cadlib cadlib
COPY vlm vlm
COPY tasks tasks
COPY flows flows
COPY deployments deployments
COPY config config
RUN pip install --no-cache-dir '.[dask]'
# CadQuery (validation of CadQuery targets) in its own venv: cadquery 2.8 needs cadquery-ocp < 8.
RUN python -m venv /opt/cadquery && /opt/cadquery/bin/pip install --no-cache-dir cadquery==2.8.0

ENV PYOPENGL_PLATFORM=egl \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    CADRECON_DATA_DIR=/data \
    CADRECON_CADQUERY_PYTHON=/opt/cadquery/bin/python
VOLUME /data
CMD ["cadrecon", "serve"]
