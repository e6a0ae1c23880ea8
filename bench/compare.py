"""Two builds of evident in the same run: a benchmark script run for each
binary in turn (A, B, A, B, ...), so that both see the same machine, with
every figure line printed under its binary's name. Use it to check that a
change costs nothing (the DuckDB figures each run prints are the yardstick
for the machine's noise between turns).

    python bench/compare.py --before /tmp/before/evident --after target/release/evident \\
        --rounds 2 -- ingest.py --events 300000 --runs 1 --work-dir /tmp/bench
"""

import argparse
import subprocess
import sys
from pathlib import Path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, help="the evident binary before the change")
    parser.add_argument("--after", required=True, help="the evident binary after the change")
    parser.add_argument("--rounds", type=int, default=2, help="turns of each binary")
    parser.add_argument("script", help="a benchmark of this folder (ingest.py, search.py, sql.py, ui.py)")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="its arguments, without --evident")
    args = parser.parse_args()
    script = Path(__file__).parent / args.script
    results = {"before": [], "after": []}
    for round_index in range(args.rounds):
        for name in ("before", "after"):
            binary = getattr(args, name)
            print(f"round {round_index + 1}, {name}: {args.script} {' '.join(args.arguments)}", file=sys.stderr)
            finished = subprocess.run([sys.executable, str(script), "--evident", binary, *args.arguments],
                                      check=True, capture_output=True, text=True)
            results[name].append(finished.stdout.strip().splitlines())
    for name, rounds in results.items():
        for round_index, lines in enumerate(rounds):
            print(f"== {name}, round {round_index + 1}")
            for line in lines:
                print(f"   {line}")


if __name__ == "__main__":
    main()
