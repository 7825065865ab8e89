"""Making a failing example's calls again, on the learner's code, the reference or a mutant:
what the heatmap and the diagnosis of known mistakes both compare. It sits with the checks (it
speaks their Api), below the analyses that use it."""

from __future__ import annotations

import re
from typing import Any

from ..checks.api import Api, Call, LearnerError, Outcome
from ..checks.common import GRAD_SEED

# Replays also compare what happened to the inputs and the gradients, so mistakes that leave the
# values right (an in-place op, a cut autograd graph) are told apart too.
PROBE = {"keep_args": True, "grad_seed": GRAD_SEED}


def _answer(o: Outcome) -> Any:
    return [o.value, o.args_after, o.kwargs_after, o.grads]


# What a routine's answer holds that depends on the process it ran in rather than on the code: an
# op count's Python calls include what the grader's own wrappers and a first call's lazy imports
# add, so a mistake is told by its tensor ops and values there, never by its count of calls.
_PROCESS_BOUND = {"count_ops": ("calls",)}


def _comparable(tool: str, answer: Any) -> Any:
    if isinstance(answer, dict) and tool in _PROCESS_BOUND:
        return {k: v for k, v in answer.items() if k not in _PROCESS_BOUND[tool]}
    return answer


def replay(api: Api, calls: list[Call]) -> list[Any]:
    """Make the same calls again; the answers (values, or the type of exception raised)."""
    handles: dict[int, Any] = {}
    answers: list[Any] = []
    for c in calls:
        try:
            if c.op == "new":
                handles[c.handle] = api.new(c.target, *c.args, **c.kwargs)
                answers.append(None)
            elif c.op == "load":
                handles[c.handle].load_state_dict(c.args[0])
            elif c.op == "to":
                handles[c.handle].to(c.args[0])
            elif c.op == "tool":
                owner = handles[c.handle] if c.handle is not None else None
                got = (
                    owner.tool(c.args[0], **c.kwargs) if owner else api.tool(c.args[0], c.target, **c.kwargs)
                )
                answers.append(_comparable(c.args[0], got))
            elif c.op == "method":
                method = c.target.rsplit(".", 1)[1]
                answers.append(_answer(handles[c.handle].call(*c.args, method=method, **c.kwargs, **PROBE)))
            else:
                answers.append(_answer(api.call(c.target, *c.args, **c.kwargs, **PROBE)))
        except LearnerError as e:
            # the type, and the numbers its message gives (a contract may ask for them)
            numbers = tuple(sorted(set(re.findall(r"\d+", str(e.info.get("message") or "")))))
            answers.append(("raised", e.info["type"], numbers))
        except KeyError:
            answers.append(("raised", "no object"))
    return answers
