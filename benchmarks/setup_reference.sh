#!/usr/bin/env bash
# Make the Python environment in which bench_training.py runs the reference implementation of
# Dubreuil, Valente et al. 2022 (the authors' `low_rank_rnns` package, PyTorch) on the CPU.
#
#   bash benchmarks/setup_reference.sh [VENV_DIR]        (default: .venv-reference)
#
# It installs, from PyPI only, torch and what the reference's modules import at the top
# (numpy, matplotlib, seaborn) into a separate virtual environment, so that torch never enters
# the library's own environment. The reference source is not fetched here: obtain it yourself
# from the authors' repository, github.com/adrian-valente/populations_paper_code (package
# `src/low_rank_rnns`), and pass that folder to the benchmark:
#
#   python benchmarks/bench_training.py --reference-src PATH/populations_paper_code/src \
#       --reference-python .venv-reference/bin/python
#
# (or set LOWRANK_RNN_REFERENCE_SRC and LOWRANK_RNN_REFERENCE_PYTHON). The benchmark runs the
# reference on the CPU (CUDA_VISIBLE_DEVICES is emptied): on Linux x86-64 PyPI's torch wheel
# also carries CUDA libraries, which are installed but not used.
set -euo pipefail
venv="${1:-.venv-reference}"
python="${PYTHON:-python3}"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --upgrade pip
"$venv/bin/python" -m pip install torch numpy matplotlib seaborn
"$venv/bin/python" -c "import torch; print('torch', torch.__version__, 'threads', torch.get_num_threads())"
