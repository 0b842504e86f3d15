"""What the server writes to its logs: request data made safe to log."""

from __future__ import annotations

# C0 and C1 controls, DEL, the Unicode line and paragraph separators, and the
# two characters that would make an escape or a quoted field ambiguous.
_UNSAFE = [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029, ord('"'), ord("\\")]
_ESCAPES = {code: f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" for code in _UNSAFE}


def printable(text: str) -> str:
    """``text`` with every control character escaped as ``\\xHH``, so that it stays on its line.

    A request's path, method or header comes from the client: a ``%0a`` decoded
    into the path would otherwise start a forged line in the log. Quotes and
    backslashes are escaped too, so a quoted field ends where the log put its end.
    """
    return text.translate(_ESCAPES)
