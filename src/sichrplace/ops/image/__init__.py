"""The container image (`sichrplace image`): a base made by mmdebstrap from Debian's packages,
the multi-stage build of deploy/image/Containerfile with podman, the hash-pinned locks, the
SBOM, the vulnerability report, the size budget and the smoke run against the local stack.

docs/deployment.md, "Image", tells the operator's side; this package holds the steps, the
`sichrplace image` command (cli/image.py) only strings them together.
"""
