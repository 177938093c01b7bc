"""The lines of a block of bytes that contain a literal, found with the C library's `memmem`.

diagnose looks for two dozen literals in every 4 MiB of a log, most of them absent: that was a
full pass of CPython's `bytes.rfind` per literal, about 40 % of its time. glibc's memmem (a
two-way search with a shift table) makes the same pass ~3x faster. Where it cannot be loaded
(no ctypes, a C library without memmem), `bytes.find` does the same job: the result is the same
either way (tests compare the two).
"""

from __future__ import annotations

from typing import Callable


_NEAR = 16384       # bytes: a gap bytes.find crosses in about the time of one memmem call


def _load_memmem() -> Callable | None:
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        fn = libc.memmem
    except (ImportError, OSError, AttributeError):
        return None
    fn.restype = ctypes.c_void_p
    fn.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t)
    address = ctypes.cast

    def search(block: bytes, size: int, needle: bytes, starts: dict[int, int], flag: int) -> None:
        # A call through ctypes costs some microseconds: worth it to cross a long stretch without
        # a hit (most needles, most blocks: the whole block), not between hits close together (a
        # round line every 1.4 KiB), which bytes.find reaches sooner. So: memmem after a long
        # gap, find after a short one.
        # `block` stays referenced for the whole call, so its buffer cannot move or go away; each
        # window given to memmem lies inside block[:size].
        base = address(block, ctypes.c_void_p).value
        rfind, find, get = block.rfind, block.find, starts.get
        m = len(needle)
        off = 0
        near = False
        while size - off >= m:
            if near:
                pos = find(needle, off, size)
                if pos < 0:
                    return
            else:
                p = fn(base + off, size - off, needle, m)
                if not p:
                    return
                pos = p - base
            near = pos - off < _NEAR
            ls = rfind(b"\n", 0, pos) + 1
            starts[ls] = get(ls, 0) | flag
            le = find(b"\n", pos + m, size)
            if le < 0:
                return
            off = le + 1            # one mark per line is all the caller needs

    return search


def _python_search(block: bytes, size: int, needle: bytes, starts: dict[int, int], flag: int,
                   off: int = 0) -> None:
    rfind, find, get = block.rfind, block.find, starts.get
    m = len(needle)
    while True:
        pos = find(needle, off, size)
        if pos < 0:
            return
        ls = rfind(b"\n", 0, pos) + 1
        starts[ls] = get(ls, 0) | flag
        le = find(b"\n", pos + m, size)
        if le < 0:
            return
        off = le + 1            # one mark per line is all the caller needs


# Each: (block, size, needle, starts, flag) -> None. For each line of block[:size] that holds
# `needle` (which holds no newline), or `flag` into starts[offset of the line's first byte].
MEMMEM = _load_memmem()
PYTHON = _python_search

