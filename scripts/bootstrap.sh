#!/usr/bin/env bash
# Installs everything the demo and the tests need, into the repository (.venv, git-ignored):
# moto server, cargo-lambda, zig, SAM CLI, cfn-lint, pytest, pinned in scripts/requirements.txt.
# Idempotent: re-installs only when the requirements change.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
venv=.venv
stamp="$venv/.requirements.sha256"
want="$(sha256sum scripts/requirements.txt | cut -d' ' -f1)"

command -v cargo >/dev/null || { echo "bootstrap: cargo (Rust stable) is required" >&2; exit 1; }
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
  || { echo "bootstrap: Python 3.9+ is required ($PYTHON)" >&2; exit 1; }

if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv"
  "$PYTHON" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing pinned tools from scripts/requirements.txt (a few minutes the first time)"
  "$venv/bin/pip" install --disable-pip-version-check -q -r scripts/requirements.txt
  echo "$want" > "$stamp"
fi
checkov_venv=.venv-checkov
checkov_stamp="$checkov_venv/.requirements.sha256"
checkov_want="$(sha256sum scripts/requirements-checkov.txt | cut -d' ' -f1)"
if [ "$(cat "$checkov_stamp" 2>/dev/null)" != "$checkov_want" ]; then
  echo "bootstrap: installing checkov into $checkov_venv (separate: it pins an older boto3)"
  [ -x "$checkov_venv/bin/python" ] || "$PYTHON" -m venv "$checkov_venv"
  "$checkov_venv/bin/pip" install --disable-pip-version-check -q -r scripts/requirements-checkov.txt
  echo "$checkov_want" > "$checkov_stamp"
fi
[ -x "$checkov_venv/bin/checkov" ] || { echo "bootstrap: $checkov_venv/bin/checkov missing after install" >&2; exit 1; }
for tool in moto_server cargo-lambda sam cfn-lint pytest; do
  [ -x "$venv/bin/$tool" ] || { echo "bootstrap: $venv/bin/$tool missing after install" >&2; exit 1; }
done
echo "bootstrap: ready ($("$venv/bin/cargo-lambda" lambda --version 2>/dev/null | head -1); moto $("$venv/bin/python" -c 'import moto; print(moto.__version__)'))"
