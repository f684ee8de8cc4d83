"""The local executor forks its workers, and so every task process, with the libraries the tasks import already
imported (tonghop_airflow.executor): checked in a fresh interpreter, as the scheduler starts it."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from tests.conftest import ROOT

PROBE = """
import json, sys
from tonghop_airflow.executor import TASK_LIBRARIES, PreloadedLocalExecutor
before = sorted(m for m in TASK_LIBRARIES if m in sys.modules)
executor = PreloadedLocalExecutor(parallelism=1)
executor.start()
try:
    print("PROBE " + json.dumps({"before": before, "after": sorted(m for m in TASK_LIBRARIES if m in sys.modules),
                      "workers": len(executor.workers), "fork": executor.is_mp_using_fork}))
finally:
    executor.end()
"""


def test_the_scheduler_imports_what_tasks_import_before_it_forks_its_workers(tmp_path):
    from tonghop_airflow.executor import TASK_LIBRARIES

    env = {"AIRFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    done = subprocess.run([sys.executable, "-c", PROBE], check=False, capture_output=True, text=True, timeout=300,
                          env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    probe = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("PROBE "))[6:])
    assert probe["fork"] and probe["workers"] == 1
    assert "great_expectations" not in probe["before"]  # importing the executor alone costs nothing
    assert probe["after"] == sorted(TASK_LIBRARIES)
    # Every stage a task body names is among them (tasks.py: `_context(period_id, "module", …)`).
    named = set(re.findall(r'"((?:tonghop|great_expectations)[\w.]*)"',
                           "".join(re.findall(r"_context\(period_id, ([^)]*)\)",
                                              (ROOT / "include/tonghop_airflow/tasks.py").read_text()))))
    assert named and named <= set(TASK_LIBRARIES)
