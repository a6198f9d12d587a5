# Two entry points (README): `make demo` and `make test`. Both set everything up first:
# Debian packages for headless GL (when missing, as root), a .venv with torch==2.13.0 (the local CPU
# wheel: any other torch spec would download a multi-GB CUDA build), then the project itself.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# CadQuery runs in its own venv: cadquery 2.8 needs cadquery-ocp < 8, cadrecon runs on OCP 8
# (cadlib/cadquery_exec.py finds it beside .venv).
CQ_VENV := .venv-cq
CADQUERY := cadquery==2.8.0
GL_PACKAGES := libegl1 libegl-mesa0 libgl1-mesa-dri libgles2
TEST_PACKAGES := postgresql
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PYOPENGL_PLATFORM ?= egl

.PHONY: setup demo test test-quick lint bench clean

setup: $(VENV)/.installed $(CQ_VENV)/.installed

# Installs the Debian packages of $(1) that are missing (as root), else says which to install.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "installing$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing) >/dev/null \
	    || { echo "error: apt-get could not install$$missing"; exit 1; }; \
	  else echo "warning: Debian packages missing ($$missing); run as root or install them"; fi; \
	fi
endef

$(VENV)/.installed: pyproject.toml
	$(call apt_install,$(GL_PACKAGES))
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

$(CQ_VENV)/.installed: Makefile
	$(PYTHON) -m venv $(CQ_VENV)
	$(CQ_VENV)/bin/pip install -q --upgrade pip
	$(CQ_VENV)/bin/pip install -q $(CADQUERY)
	@touch $@

demo: setup
	$(BIN)/cadrecon demo

# The whole suite, a worker per core (pytest-xdist; tests/conftest.py pins each to one thread and
# starts the longest work first), the 20 slowest tests printed at the end. The REST API's
# integration test starts a PostgreSQL of its own (Debian's `postgresql` binaries).
TEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=20
test: setup
	$(call apt_install,$(TEST_PACKAGES))
	$(BIN)/ruff check .
	$(BIN)/mypy
	CADRECON_TEST_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -q $(PYTEST_PARALLEL)

# The edit-test loop: the unit tests (no end-to-end flows, servers, realdata or slow-marked tests).
test-quick: setup
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL) -m "not slow and not realdata" \
	  tests/cadlib tests/config tests/vlm tests/test_architecture.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/cadlib.py

clean:
	rm -rf $(VENV) $(CQ_VENV) data .pytest_cache
