"""`python -m tools.images` (`make images`): build the images with Docker where an engine
runs, else with buildah on Debian bases (tools/images/build.py), printing the timings.

With Docker the three service images build on the Dockerfiles' default bases (Docker
Hub's), and the chart's bundled servers come from Docker Hub as its values say.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

from tools.images.build import ROOT, build_images

SERVICES = ["api", "worker", "operator"]


def docker_runs() -> bool:
    """Whether a Docker engine answers (a `docker` client alone is not enough)."""
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return probe.returncode == 0


def build_with_docker() -> None:
    for service in SERVICES:
        subprocess.run(
            ["docker", "build", "-f", f"{service}/Dockerfile", "-t", f"jobq-{service}:dev", "."], cwd=ROOT, check=True
        )


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.images", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--engine",
        choices=["auto", "docker", "buildah"],
        default="auto",
        help="auto: Docker when an engine answers, else buildah",
    )
    engine = parser.parse_args().engine
    if engine == "docker" or (engine == "auto" and docker_runs()):
        build_with_docker()
        return 0
    print("building with buildah on Debian bases (cache: tools/images/cache.py)", flush=True)
    for ref, archive in build_images().items():
        print(f"{ref:<32} {archive}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
