"""A Gradescope autograder made from this grader: `quiz autograder gradescope OUT --day day16`.

`OUT/autograder.zip` holds the grader's wheel (deploy/wheel.py) and its SHA-256, `setup.sh`
(Gradescope runs it once, as root, when it builds its image: a Python >= 3.11, a virtual
environment at /autograder/venv, the CPU build of the torch this grader runs with, the wheel once
its digest is checked), `run_autograder` (run for each submission: a few lines that call `run`
below through `quiz autograder run`) and `config.json` (the days, the profile, the seed, the
tests to hide).

`run` grades `$AUTOGRADER_ROOT/submission` (laid out as a workspace, with everything under one
`exercises/` folder, or either of those one folder deeper, as Gradescope keeps an uploaded zip's
top folder) day by day, in the same confined processes as `quiz grade`, and always writes
`$AUTOGRADER_ROOT/results/results.json` with the keys Gradescope documents: whatever the
submission holds, whatever goes wrong, a result is written, never through a link.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import shlex
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .. import daypacks, safefs
from ..catalog import load_day, normalise_day
from ..report.ci import QUESTIONS_SUITE, VISIBILITIES, gradescope_json, merge_gradescope
from ..results import total
from . import wheel

ZIP = "autograder.zip"
CONFIG = "config.json"
PROFILES = ("quick", "default", "thorough")


@dataclass
class Config:
    """What run_autograder grades, and how."""

    days: list[str]
    profile: str = "default"
    seed: int = 0
    visibility: dict[str, str] = field(default_factory=dict)  # exercise id (or "<day>: checkpoint questions")
    questions_points: float = 1.0

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "days": self.days,
                    "profile": self.profile,
                    "seed": self.seed,
                    "visibility": self.visibility,
                    "questions_points": self.questions_points,
                },
                indent=2,
            )
            + "\n"
        )

    @classmethod
    def read(cls, path: Path) -> Config:
        data = json.loads(path.read_text(encoding="utf-8"))
        config = cls(
            days=[normalise_day(str(d)) for d in data["days"]],
            profile=str(data.get("profile", "default")),
            seed=int(data.get("seed", 0)),
            visibility=dict(data.get("visibility", {})),
            questions_points=float(data.get("questions_points", 1.0)),
        )
        if config.profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {config.profile!r}")
        if bad := [v for v in config.visibility.values() if v not in VISIBILITIES]:
            raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}, not {bad[0]!r}")
        return config


def carried(days: list[str]) -> None:
    """Refuse a day the autograder would not carry: its zip holds this grader's wheel alone."""
    for day in days:
        pack = daypacks.get(day)
        if not pack.own:
            raise ValueError(
                f"{day} comes from the day pack {pack.package}, which the autograder does not carry "
                "(it packs this grader's wheel alone): install the pack in setup.sh yourself "
                "(docs/adding-a-day.md)"
            )


def hidden_tests(days: list[str], patterns: list[str], visibility: str) -> dict[str, str]:
    """Each exercise id of `days` that one of `patterns` names (its full id, its id without the day,
    or a glob of either; "questions" names the days' checkpoint questions) -> `visibility`. A
    pattern that names nothing is a ValueError."""
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility must be one of {', '.join(VISIBILITIES)}, not {visibility!r}")
    out: dict[str, str] = {}
    for pattern in patterns:
        found = []
        for day in days:
            the_day = load_day(day)
            for ex in the_day.exercises:
                short = ex.id.split(".", 1)[1]
                if fnmatch.fnmatchcase(ex.id, pattern) or fnmatch.fnmatchcase(short, pattern):
                    found.append(ex.id)
            if fnmatch.fnmatchcase("questions", pattern) or fnmatch.fnmatchcase(QUESTIONS_SUITE, pattern):
                found.append(questions_key(the_day.id))
        if not found:
            raise ValueError(
                f"--hidden {pattern}: no exercise of {', '.join(days)} has that id "
                '(see `quiz list`; "questions" names the checkpoint questions)'
            )
        out.update(dict.fromkeys(found, visibility))
    return out


def questions_key(day: str) -> str:
    return f"{day}: {QUESTIONS_SUITE}"


def setup_sh(wheel_name: str, digest: str, torch: str) -> str:
    return f"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder's image: a Python >= 3.11, a
# virtual environment at $AUTOGRADER_ROOT/venv (/autograder/venv), the CPU build of torch {torch},
# and the grader's own wheel once its SHA-256 is checked.
set -euo pipefail
cd "$(dirname "$0")"
root="${{AUTOGRADER_ROOT:-/autograder}}"
python=""
for candidate in python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null 2>&1 \\
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \\
      && "$candidate" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    python="$candidate"
    break
  fi
done
if [ -z "$python" ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y python3.11 python3.11-venv
  python=python3.11
fi
"$python" -m venv "$root/venv"
"$root/venv/bin/python" -m pip install --upgrade pip
"$root/venv/bin/python" -m pip install {shlex.quote("torch==" + torch)} --index-url https://download.pytorch.org/whl/cpu
echo {shlex.quote(f"{digest}  {wheel_name}")} | sha256sum --check
"$root/venv/bin/python" -m pip install {shlex.quote("./" + wheel_name)}
"""


RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for each submission. The grading is `quiz autograder run`, which always
# writes $AUTOGRADER_ROOT/results/results.json; this script only finds the grader.
root="${AUTOGRADER_ROOT:-/autograder}"
quiz="$root/venv/bin/quiz"
[ -x "$quiz" ] || quiz="$(command -v quiz)"
source="$(cd "$(dirname "$0")" && pwd)"
[ -f "$source/config.json" ] || source="$root/source"
if [ -n "$quiz" ]; then
  "$quiz" autograder run --root "$root" --config "$source/config.json" && exit 0
fi
mkdir -p "$root/results"
fallback='{fallback}'
[ -s "$root/results/results.json" ] || echo "$fallback" > "$root/results/results.json"
exit 1
""".replace(
    "{fallback}",
    json.dumps(
        {
            "score": 0.0,
            "output": "The autograder could not run (the grader is not installed): tell the course staff.",
            "output_format": "text",
            "tests": [],
        }
    ),
)


def build(out: Path, config: Config) -> Path:
    """Write `out/autograder.zip` (`out` made when missing; a link at that name, or on the way inside
    `out`, is refused, never written through) and return its path."""
    out = Path(out)
    target = out / ZIP
    safefs.make_dirs(out, out)
    safefs.refuse_links(target, out)
    name, data = wheel.filename(), wheel.pack()
    digest = hashlib.sha256(data).hexdigest()
    members = {
        name: data,
        f"{name}.sha256": f"{digest}  {name}\n".encode(),
        "setup.sh": setup_sh(name, digest, wheel.torch_version()).encode(),
        "run_autograder": RUN_AUTOGRADER.encode(),
        CONFIG: config.to_json().encode(),
    }
    archive = wheel.zipped(members, executable=frozenset({"setup.sh", "run_autograder"}))
    safefs.write_atomic(target, archive, out)
    return target


# --- run_autograder's side ----------------------------------------------------------------------

_IGNORED = {"__MACOSX", "__pycache__"}


def _entries(folder: Path) -> list[Path]:
    try:
        return [p for p in sorted(folder.iterdir()) if not p.name.startswith(".") and p.name not in _IGNORED]
    except OSError:
        return []


def find_workspace(submission: Path, days: list[str]) -> Path | None:
    """Where the submission's workspace is: the folder that holds a day's folder or `answers/` --
    the submission itself, its `exercises/` folder, or either of those one folder deeper (the
    uploaded zip's top folder). None when there is none. No link is followed."""
    wanted = {load_day(d).id for d in days} | {"answers"}
    candidates = [submission, submission / "exercises"]
    inner = [p for p in _entries(submission) if p.is_dir() and not p.is_symlink()]
    if len(inner) == 1 and inner[0].name not in wanted and inner[0].name != "exercises":
        candidates += [inner[0], inner[0] / "exercises"]
    for folder in candidates:
        if folder.is_symlink() or not folder.is_dir():
            continue
        if any((folder / name).is_dir() and not (folder / name).is_symlink() for name in wanted):
            return folder
    return None


def _expected(days: list[str]) -> str:
    folders = ", ".join(f"{load_day(d).id}/" for d in days)
    return (
        f"Nothing to grade was found in your submission. Upload your workspace's folders ({folders} and "
        "answers/) at the top of the submission, or one folder holding them (for example exercises/ or "
        "a zip of your workspace)."
    )


def _day_failed(day: str, config: Config, why: str) -> dict:
    """A day that could not be graded at all: its tests, each 0, so the total stays the same."""
    the_day = load_day(day)
    tests = [
        {
            "score": 0.0,
            "max_score": round(float(ex.points), 2),
            "status": "failed",
            "name": f"{ex.id}: {ex.title}",
            "output": f"not graded: {why}",
            "output_format": "text",
            "visibility": config.visibility.get(ex.id, "visible"),
        }
        for ex in the_day.exercises
    ]
    return {
        "score": 0.0,
        "max_score": total([t["max_score"] for t in tests]),
        "output": f"{day}: not graded ({why})",
        "tests": tests,
        "execution_time": 0.0,
        "extra_data": {"day": the_day.id},
    }


def _asked(day: str) -> int:
    from ..questions import load_bank

    return sum(q.checkable for q in load_bank(day).questions)


def grade_submission(submission: Path, config: Config) -> dict:
    """The merged results.json of every configured day for `submission`."""
    from ..grade import Options, grade
    from ..sandbox.process import Zygote

    workspace = find_workspace(submission, config.days)
    note = "" if workspace is not None else _expected(config.days)
    results = []
    with Zygote() as zygote:
        for day in config.days:
            the_day = load_day(day)
            visibility = {
                **config.visibility,
                QUESTIONS_SUITE: config.visibility.get(questions_key(the_day.id), "visible"),
            }
            try:
                if workspace is None:
                    raise LookupError("nothing to grade in the submission")
                report = grade(
                    the_day.id,
                    Options(workspace=workspace, profile=config.profile, seed=config.seed, device="cpu"),
                    zygote=zygote,
                )
                data = gradescope_json(
                    report,
                    visibility=visibility,
                    questions_points=config.questions_points,
                    asked=_asked(the_day.id) if config.questions_points > 0 else None,
                )
            except Exception as e:  # noqa: BLE001 - a day that cannot be graded still gets its tests
                data = _day_failed(
                    the_day.id,
                    config,
                    "nothing to grade in the submission"
                    if isinstance(e, LookupError)
                    else f"the grader failed ({type(e).__name__})",
                )
                if not isinstance(e, LookupError):
                    traceback.print_exc()
            results.append(data)
    return merge_gradescope(results, note)


def run(root: Path, config_path: Path) -> int:
    """Grade `root/submission` and write `root/results/results.json`, whatever happens; 0 when
    the submission was graded."""
    started = time.perf_counter()
    results_file = root / "results" / "results.json"
    code = 0
    try:
        config = Config.read(config_path)
        data = grade_submission(root / "submission", config)
    except Exception as e:  # noqa: BLE001 - a result is written whatever happens
        traceback.print_exc()
        data = {
            "score": 0.0,
            "max_score": 0.0,
            "output": f"The autograder failed ({type(e).__name__}); "
            "this is not your submission's fault: tell the course staff.",
            "output_format": "text",
            "tests": [],
        }
        code = 1
    data["execution_time"] = round(time.perf_counter() - started, 2)
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    safefs.write_atomic(results_file, text, results_file.parent)
    return code
