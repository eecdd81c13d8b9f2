"""Cutting cell outputs out of notebook JSON before it is parsed.

nb2pipe never reads a cell's outputs or attachments, and in a notebook with
images they are most of the file. Parsing them would hold the file in memory two
or three times over (bytes, text, parsed values); cutting them from the raw bytes
first keeps a conversion's memory near the size of the file itself.
"""

import re

# Where the next string, bracket or colon starts. Strings are then skipped with a
# search for their closing quote, which crosses megabytes of base64 in no time;
# UTF-8 continuation bytes are never quotes or backslashes, so bytes do.
NEXT = re.compile(rb'[][{}:"]')
QUOTE, BACKSLASH = ord('"'), ord("\\")
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
    end = 0
    while (m := NEXT.search(data, end)) is not None:
        start = m.start()
        if data[start] == QUOTE:
            end = _string_end(data, start)
            if end < 0:
                return data
            # Only a short string can be a key we look for: long ones are not copied.
            token = data[start:end] if end - start < 64 else b'""'
            if previous == b":":
                key = None  # a string value, not a key
        else:
            end = start + 1
            token = data[start:end]
            if token == b":":
                key = previous
            elif token in CLOSING:
                if cutting is None and key in CUT and _at_cell(stack):
                    cutting = (start, len(stack))
                stack.append((token, key))
                key = None
            else:
                if not stack or CLOSING[stack.pop()[0]] != token:
                    return data
                key = None
                if cutting is not None and len(stack) == cutting[1]:
                    opening = cutting[0]
                    pieces += [data[kept:opening], data[opening : opening + 1], token]
                    kept, cutting = end, None
        previous = token
    if stack or not pieces:
        return data
    return b"".join(pieces) + data[kept:]


def _at_cell(stack: list[tuple[bytes, bytes | None]]) -> bool:
    return [k for _, k in stack] in CELL_LEVELS


def _string_end(data: bytes, start: int) -> int:
    """The offset just past the string that opens at `start`; -1 if it never ends."""
    quote = data.find(b'"', start + 1)
    while quote >= 0:
        before = quote
        while data[before - 1] == BACKSLASH:
            before -= 1
        if (quote - before) % 2 == 0:  # an even run of backslashes escapes nothing
            return quote + 1
        quote = data.find(b'"', quote + 1)
    return -1
