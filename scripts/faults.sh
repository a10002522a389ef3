#!/usr/bin/env bash
# Fault, hostile-input, security and fuzz tests in one command.
#   scripts/faults.sh            the fast variant (what CI runs as part of the suite)
#   FULL=1 scripts/faults.sh     the long variants: 200 fuzz examples per operation, an hour
#                                of audio killed mid-processing, a sparse 27 GB 10-hour file
#                                through the CLI, and the SIGKILL-mid-training test (FSDD)
# They start their own Redis and PostgreSQL on free ports; the machine's servers are never
# stopped. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh dev,s3
export PYTHONUNBUFFERED=1
tests=(tests/faults tests/test_security.py tests/test_fuzz_api.py tests/browser/test_hostile_upload.py)
if [ -n "${FULL:-}" ] && [ "${FULL}" != "0" ]; then
  tests+=("tests/e2e/test_active_learning.py::test_a_killed_training_leaves_the_previous_version_active")
fi
exec .venv/bin/python -m pytest "${tests[@]}" "$@"
