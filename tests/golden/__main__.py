"""``python -m tests.golden --update``: re-render every golden scenario into tests/golden/."""

from __future__ import annotations

import argparse
import os
import sys


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.golden", description=__doc__)
    parser.add_argument("--update", action="store_true", help="Rewrite the golden files.")
    parser.add_argument("scenario", nargs="*", help="Only these scenarios (default: all).")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from tests.golden import SCENARIOS, render_scenario, stored, update

    names = args.scenario or list(SCENARIOS)
    unknown = sorted(set(names) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}: choose from {', '.join(SCENARIOS)}")
    stale = 0
    for name in names:
        if args.update:
            update(name)
            print(f"tests/golden/{name}: written")
        elif render_scenario(name) != stored(name):
            stale += 1
            print(f"tests/golden/{name}: differs (run with --update)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
