#!/usr/bin/env bash
# Tests of the Python client (sdk/python) with the machine's python3: installs
# the package into a fresh virtual environment (as a user would, with pip),
# byte-compiles it, type-checks it for Python 3.9 with mypy, and runs its
# unittest suite against the real feedbackd binary built from this checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Nothing is written into the checkout: byte code goes to $work, and the
# package is built from a copy (setuptools builds in the source tree).
export PYTHONPYCACHEPREFIX="$work/pycache"
cp -r sdk/python "$work/src"

echo "python: $($PY --version)"
$PY -m venv "$work/venv"
venv="$work/venv/bin"
# pip's isolated build downloads setuptools from PyPI. Building without
# isolation uses the virtual environment's own setuptools, which before 70.1
# needs the wheel package: Debian's python3-wheel-whl, else from PyPI.
if ! "$venv/python" -c 'import wheel' 2>/dev/null; then
  if ! ls /usr/share/python-wheels/wheel-*.whl >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-wheel-whl >/dev/null 2>&1 \
      || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-wheel-whl >/dev/null; } \
      || true
  fi
  if ls /usr/share/python-wheels/wheel-*.whl >/dev/null 2>&1; then
    "$venv/pip" install -q --no-index --find-links /usr/share/python-wheels wheel
  else
    "$venv/pip" install -q wheel
  fi
fi
"$venv/pip" install -q --no-build-isolation --no-index "$work/src"
"$venv/python" -c 'import feedbackloop, pathlib; assert (pathlib.Path(feedbackloop.__file__).parent / "py.typed").is_file(), "py.typed not installed"'

echo "compileall"
"$venv/python" -m compileall -q sdk/python/src sdk/python/tests

# mypy: Debian's python3-mypy (there is no PyPI where the tests are known to run).
mypy=(/usr/bin/python3 -m mypy)
if ! "${mypy[@]}" --version >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-mypy >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-mypy >/dev/null; }
fi
echo "mypy: $("${mypy[@]}" --version)"
"${mypy[@]}" --cache-dir "$work/mypy" --strict --python-version 3.9 sdk/python/src
MYPYPATH=sdk/python/src "${mypy[@]}" --cache-dir "$work/mypy" --python-version 3.9 sdk/python/tests

echo "unittest (against feedbackd built from this checkout)"
go build -o "$work/feedbackd" ./pkg/cmd/feedbackd
# The tests import the installed package, not sdk/python/src.
(cd "$work" && FEEDBACKD_BIN="$work/feedbackd" "$venv/python" -m unittest discover -v \
  -s "$OLDPWD/sdk/python/tests" -t "$OLDPWD/sdk/python/tests")
