"""``python -m tapem``: see :mod:`tapem.cli`."""

from tapem.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
