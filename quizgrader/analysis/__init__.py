"""After a check fails: what the report adds to its verdict. It sits below the checks (it speaks
their Api and makes their calls again) and nothing in the checks imports it.

- replay.py: a failing example's calls made again, on the learner's code, the reference or a mutant;
- diagnosis.py: the known mistakes (mutants of the reference) whose answers equal the learner's;
- heatmap.py: the learner's attention weights beside the reference's, where a day pack draws them;
- repro.py: the failing example as a script the learner can run.
"""
