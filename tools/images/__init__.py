"""Images without Docker Hub or a daemon: jobq's three images and the chart's bundled
PostgreSQL and Redis, built with buildah on bases made of Debian's packages.

`build_images()` (tools/images/build.py) is the entry point; `python -m tools.images`
(`make images`) runs it, or Docker where an engine runs.
"""
