# mer: two commands do all set-up. `make repro` runs the pipeline, `make test` the tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONHASHSEED ?= 0
# TensorFlow's oneDNN kernels: TensorFlow turns them on by itself only on some x86 CPUs; on an AVX2-only one, turning them on
# trained cnn_static 2.1x faster (README, "Same numbers on another machine?"). `TF_ENABLE_ONEDNN_OPTS=0 make ...` turns them off.
export TF_ENABLE_ONEDNN_OPTS ?= 1

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

$(STAMP): requirements.txt settings.ini
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps musicnn==0.1.0
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $@

venv: $(STAMP)  ## create .venv with the pinned wheels

ffmpeg:  ## install ffmpeg from Debian packages when missing
	@command -v ffmpeg >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg >/dev/null; }
	@command -v ffmpeg >/dev/null || { echo "ffmpeg is required: apt-get install ffmpeg" >&2; exit 1; }

chromium:  ## install headless Chromium (docs test) when missing
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || echo "chromium could not be installed; the docs browser test will skip" >&2

setup: venv ffmpeg  ## everything the pipeline needs
	@$(BIN)/dvc config --local core.analytics false 2>/dev/null || true
	@$(PY) tools/warm_numba.py  # librosa's numba cache built by one process: parallel first imports can corrupt it (numba#10128)

repro: setup  ## dvc repro dvc.yaml: the pipeline on the embedded synthetic default
	$(BIN)/dvc repro $(REPRO_ARGS) dvc.yaml
	$(BIN)/dvc metrics show

repro-real: setup  ## the real-data experiments (4Q, DEAM) on ../shared/data or $$MER_DATA: dvc repro real/dvc.yaml
	$(BIN)/dvc repro real/dvc.yaml $(REPRO_ARGS)
	$(BIN)/dvc metrics show

check-clean: venv  ## nbdev_clean + nbdev_export must leave git clean
	$(BIN)/nbdev_clean
	$(BIN)/nbdev_export
	@if [ -n "$$(git status --porcelain -- nbs mer)" ]; then echo "nbdev_clean/nbdev_export changed files: notebooks and library drifted" >&2; git status --porcelain -- nbs mer >&2; git diff --stat -- nbs mer >&2; exit 1; fi
	$(BIN)/python tools/make_readme.py --check

test: setup chromium check-clean  ## notebook tests + docs site + pytest
	$(BIN)/nbdev_test --n_workers 2 --timing
	$(BIN)/python tools/build_docs.py
	$(BIN)/python -m pytest -q -ra tests

test-slow: setup  ## also the slow notebook cells (tiny overfit checks)
	$(BIN)/nbdev_test --n_workers 2 --flags slow

docs: setup  ## build the docs site offline into _docs/ (nbdev_proc_nbs + MkDocs; Quarto cannot be installed here)
	$(BIN)/python tools/build_docs.py

readme: venv  ## regenerate README.md from nbs/index.ipynb
	$(BIN)/python tools/make_readme.py

lab: setup  ## JupyterLab on the project kernel
	$(BIN)/jupyter lab --allow-root --no-browser --notebook-dir=.

clean-outputs:  ## remove pipeline outputs (keeps data caches)
	rm -rf reports features models

.PHONY: help venv ffmpeg chromium setup repro repro-real check-clean test test-slow docs readme lab clean-outputs

bench-features: setup  ## feature-extraction speed on the 720 4Q clips (decode floor / naive loop / mer) + its Results page
	$(BIN)/python bench/features.py --out reports/bench_features.json
	mkdir -p bench/results && cp reports/bench_features.json bench/results/bench_features.json  # commit it: the docs render it on any clone
	mkdir -p reports/results
	$(BIN)/papermill nbs/results/bench_features.ipynb reports/results/bench_features.ipynb -k python3 -p bench_json reports/bench_features.json

.PHONY: bench-features

SEEDS_MODELS ?= deck_svm_static deck_forest_quadrant deck_mlp_static musicnn_mlp_static attn_static delbouys_static cnn_static \
	deam_os_svm deam_os_mlp fourq_musicnn_linear fourq_musicnn_mlp fourq_attn
bench-seeds: setup  ## seed spread: SEEDS_MODELS retrained with train.seed 0-4 (features first: make repro, make repro-real; ~1.5 h on 2 CPUs) + its Results page
	$(PY) bench/seeds.py $(SEEDS_MODELS) --out reports/bench_seeds.json
	mkdir -p bench/results && cp reports/bench_seeds.json bench/results/bench_seeds.json  # commit it: the docs render it on any clone
	mkdir -p reports/results && $(BIN)/papermill nbs/results/bench_seeds.ipynb reports/results/bench_seeds.ipynb -k python3 --no-progress-bar -p bench_json reports/bench_seeds.json
.PHONY: bench-seeds

bench-predict: setup  ## speed and quadrant F1 of `mer predict` beside VibeNet (own venv) on 120 4Q clips; then the figures notebook
	$(PY) bench/predict.py --limit $${LIMIT:-120} --out reports/bench_predict.json
	mkdir -p bench/results && cp reports/bench_predict.json bench/results/bench_predict.json  # commit it: the docs render it on any clone
	mkdir -p reports/results && $(BIN)/papermill nbs/results/bench_predict.ipynb reports/results/bench_predict.ipynb -k python3 --no-progress-bar
.PHONY: bench-predict
