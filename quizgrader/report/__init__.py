"""Renderers: each turns the one result model into an output format."""

import re

# C0 and C1 control characters (terminal escapes, carriage returns, bells) but tab and newline, and
# the marks that reorder text on screen (bidirectional overrides).
# Lone surrogates (what a file name that is not UTF-8 decodes to) cannot be written as UTF-8 at all.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def neutral(text: str, keep: str = "") -> str:
    """Learner-controlled text (what their code raised or printed) made inert for a terminal or a CI
    log: each control character but those in `keep` (which the format escapes itself) is written
    out as \\xNN or \\uNNNN, so it shows as what it is and acts as nothing (an escape sequence
    cannot colour, move the cursor or forge a line)."""

    def written(m: re.Match) -> str:
        code = ord(m.group())
        return m.group() if m.group() in keep else f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _CONTROL.sub(written, text)
