"""A small curl for the simulated checkout: `curl [-s] [-f] URL` does a GET and prints the body.

Exit codes follow curl's: 7 when nothing listens, 22 for HTTP errors with -f, 0 otherwise.
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    silent = fail = False
    url = None
    for arg in args:
        if arg.startswith("-") and not arg.startswith("--"):
            silent |= "s" in arg
            fail |= "f" in arg
        elif not arg.startswith("-"):
            url = arg
    if url is None:
        sys.stderr.write("curl: no URL specified!\n")
        return 2
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            sys.stdout.buffer.write(resp.read())
        return 0
    except urllib.error.HTTPError as exc:
        if fail:
            if not silent:
                sys.stderr.write(f"curl: (22) The requested URL returned error: {exc.code}\n")
            return 22
        sys.stdout.buffer.write(exc.read())
        return 0
    except (urllib.error.URLError, OSError) as exc:
        if not silent:
            sys.stderr.write(f"curl: (7) Failed to connect: {exc}\n")
        return 7


if __name__ == "__main__":
    sys.exit(main())
