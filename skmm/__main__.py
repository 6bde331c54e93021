"""``python -m skmm``: the skmm command line (see ``skmm --help``)."""

from skmm._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
