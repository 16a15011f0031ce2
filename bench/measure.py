"""Runs one command and writes its wall time, exit code and peak resident
set size as JSON:

  python measure.py REPORT.json STDERR_FILE PROGRAM [ARG...]

The command's stdout is discarded and its stderr kept in STDERR_FILE. One
process of its own per measurement, because RUSAGE_CHILDREN's ru_maxrss is
the largest of every child ever waited for: read from `cargo xtask bench`
itself it would include the cargo builds before it.
"""

import json
import os
import resource
import subprocess
import sys
import time

if len(sys.argv) < 4:
    raise SystemExit(__doc__)
report, stderr_file, command = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(stderr_file, "wb") as stderr:
    # Write back what earlier processes left dirty (the builds, the other
    # side's log), so that a run's own fsyncs do not wait for it.
    os.sync()
    started = time.perf_counter()
    code = subprocess.call(command, stdout=subprocess.DEVNULL, stderr=stderr)
    wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(report, "w") as f:
    # Linux reports ru_maxrss in KiB.
    json.dump({"exit_code": code, "wall_s": wall, "max_rss_kib": usage.ru_maxrss}, f)
