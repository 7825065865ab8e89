"""docs/instructors.md works as written: each of its `bash` blocks runs, in order, in one empty
folder, with the grader under test on PATH, and succeeds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "instructors.md"
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_every_command_of_the_instructors_walkthrough_runs(tmp_path):
    blocks = BLOCK.findall(DOC.read_text())
    assert len(blocks) >= 6, "the walkthrough lost its commands"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "COLUMNS": "100",
        "NO_COLOR": "1",
    }
    out = []
    for block in blocks:
        run = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        out.append(run.stdout)
        assert run.returncode == 0, f"{block}\n--- printed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    shown = "\n".join(out)
    assert "quizgrader " in shown and "SHA256SUMS" in shown
    assert "0.0 / " in shown or "0 / " in shown, "the stubs scored something on Gradescope"
    assert "learner-a" in shown and "learner-b" in shown
