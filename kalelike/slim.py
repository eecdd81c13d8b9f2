"""Cutting cell outputs out of notebook JSON before it is parsed.

nb2pipe never reads a cell's outputs or attachments, and in a notebook with
images they are most of the file. Parsing them would hold the file in memory two
or three times over (bytes, text, parsed values); cutting them from the raw bytes
first keeps a conversion's memory near the size of the file itself.
"""

import re

# A JSON string, a bracket, or the colon after a key. UTF-8 continuation bytes are
# never quotes or backslashes, so this reads strings exactly on raw bytes; a lone
# quote is an unterminated string.
TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|"|[][{}:]', re.DOTALL)
CUT = (b'"outputs"', b'"attachments"')
# The keys of the containers around a cell: nbformat 4, then nbformat 3.
CELL_LEVELS = (
    [None, b'"cells"', None],
    [None, b'"worksheets"', None, b'"cells"', None],
)
CLOSING = {b"[": b"]", b"{": b"}"}


def without_outputs(data: bytes) -> bytes:
    """The notebook's JSON with every cell's outputs and attachments emptied.

    Data that is not shaped as expected comes back unchanged, for the JSON parser
    to judge and report.
    """
    pieces = []
    kept = 0  # data before this offset is already in `pieces`
    stack: list[tuple[bytes, bytes | None]] = []  # open brackets, with their key
    key = None  # the key whose value comes next
    previous = b""
    cutting = None  # (offset, depth) of the value being cut
    for m in TOKEN.finditer(data):
        start, end = m.span()
        # Only short strings can be keys we look for; copying long ones costs memory.
        token = data[start:end] if end - start < 64 else b'""'
        if token in CLOSING:
            if cutting is None and key in CUT and _at_cell(stack):
                cutting = (start, len(stack))
            stack.append((token, key))
            key = None
        elif token in (b"]", b"}"):
            if not stack or CLOSING[stack.pop()[0]] != token:
                return data
            key = None
            if cutting is not None and len(stack) == cutting[1]:
                opening = cutting[0]
                pieces += [data[kept:opening], data[opening : opening + 1], token]
                kept, cutting = end, None
        elif token == b":":
            key = previous
        elif token == b'"':
            return data
        elif previous == b":":
            key = None  # a string value, not a key
        previous = token
    if stack or not pieces:
        return data
    return b"".join(pieces) + data[kept:]


def _at_cell(stack: list[tuple[bytes, bytes | None]]) -> bool:
    return [k for _, k in stack] in CELL_LEVELS
