"""The crate graph keeps the surfaces apart: HTTP, the PostgreSQL wire
protocol and the command line depend on the application crate, never on
each other, and the application crate on none of them. Run by
scripts/test.sh; exits 1 naming each edge that breaks the rule."""

import json
import subprocess
import sys

SURFACES = {"evident-http", "evident-pgwire", "evident-cli"}
# Who may depend on whom, beyond the libraries below the application.
FORBIDDEN = {
    "evident-app": SURFACES | {"evident"},
    "evident-http": (SURFACES - {"evident-http"}) | {"evident"},
    "evident-pgwire": (SURFACES - {"evident-pgwire"}) | {"evident"},
    "evident-cli": (SURFACES - {"evident-cli"}) | {"evident"},
}
REQUIRED = {surface: "evident-app" for surface in SURFACES}


def main():
    metadata = json.loads(subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps", "--offline"],
        check=True, capture_output=True, text=True).stdout)
    dependencies = {
        package["name"]: {dependency["name"] for dependency in package["dependencies"]}
        for package in metadata["packages"]
    }
    broken = []
    for crate, forbidden in FORBIDDEN.items():
        for dependency in sorted(dependencies.get(crate, set()) & forbidden):
            broken.append(f"{crate} depends on {dependency}")
    for crate, needed in REQUIRED.items():
        if needed not in dependencies.get(crate, set()):
            broken.append(f"{crate} does not go through {needed}")
    for line in broken:
        print(f"layering: {line}", file=sys.stderr)
    if broken:
        sys.exit(1)
    print("layering: http, pgwire and cli depend on evident-app, never on each other")


if __name__ == "__main__":
    main()
