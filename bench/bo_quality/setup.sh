#!/usr/bin/env bash
# Create bench/bo_quality/.venv with hpopt (editable, from this repository) and the peer optimizers.
#   bash bench/bo_quality/setup.sh            # uses python3.11 if present, else python3
#   PYTHON=/path/to/python bash bench/bo_quality/setup.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="${PYTHON:-$(command -v python3.11 || command -v python3)}"
venv="$here/.venv"

if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip)
"${pip[@]}" install --upgrade pip
"${pip[@]}" install -e "$repo" -r "$here/requirements.txt"
# HEBO 0.3.6 pins numpy<1.25 (and pymoo==0.6.0, GPy, catboost); its code runs on numpy 2 with the
# runtime imports listed in requirements.txt, so it is installed without its declared dependencies.
"${pip[@]}" install --no-deps "$(sed -n 's/^# hebo-pin: //p' "$here/requirements.txt")"
"$venv/bin/python" - <<'PY'
import importlib
for name in ("hpopt", "bayes_opt", "optuna", "torch", "matplotlib", "hebo", "ax", "botorch"):
    mod = importlib.import_module(name)
    print(f"{name:10s} {getattr(mod, '__version__', '?')}")
PY
echo "ready: $venv/bin/python $here/run.py --help"
