#!/usr/bin/env bash
# Rebuilds the example reports in docs/ from the reference solutions and the example answers:
#   docs/day16-report.svg  docs/day16-checkpoint.md   (all Day 16 exercises, answers, ratings)
#   docs/day09-report.svg  docs/day09-checkpoint.md   (all Day 9 exercises, answers, ratings)
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
