#!/usr/bin/env bash
# Rebuilds the example reports in docs/ from the reference solutions and the example answers:
#   docs/day16-report.svg  docs/day16-checkpoint.md   (all Day 16 exercises, answers, ratings)
#   docs/day09-report.svg  docs/day09-checkpoint.md   (all Day 9 exercises, answers, ratings)
#   docs/day16-failure.svg                            (a known mistake in attention, as reported)
#   docs/lab/*.png                                    (quiz lab day16 --reference)
# Run from anywhere with the grader installed: bash docs/make_examples.sh
set -euo pipefail
docs="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$docs")"
ws="$(mktemp -d)"
trap 'rm -rf "$ws"' EXIT
cp -r "$root/reference/day16" "$root/reference/day09" "$ws/"
cp -r "$docs/examples/answers" "$ws/"
cd "$ws"                       # so the reports name the workspace `.`, not a temporary folder
export QUIZ_HISTORY=off
for day in day16 day09; do
  quiz grade "$day" --workspace . --device cpu --export "$docs/$day-report.svg" > /dev/null || true
  quiz report "$day" --workspace . --device cpu -o "$docs/$day-checkpoint.md"
done
# The lab's figures, from the reference (the numbers in results.json are not kept in docs/)
quiz lab day16 --workspace . --reference --device cpu --out "$docs/lab" > /dev/null
rm -f "$docs/lab/results.json"
# A failing exercise as a learner sees it: the reference with the scores left unscaled
python - "$ws" <<'PY'
import sys
from pathlib import Path
from quizgrader.diagnosis import for_exercise, mutate
path = Path(sys.argv[1]) / "day16" / "attention.py"
mistake = next(m for m in for_exercise("day16.attention.scaled_dot_product_attention") if m.id == "sdpa-no-scaling")
path.write_text(mutate(path.read_text(), mistake))
PY
quiz grade day16 --workspace . --device cpu --profile quick --only attention.scaled_dot_product_attention \
  --export "$docs/day16-failure.svg" > /dev/null || true
