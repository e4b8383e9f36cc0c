"""The image of this checkout against the running stack (`sichrplace image smoke`).

Marked `image`. It runs where the image of this very checkout exists (`sichrplace image build`
tags it with the commit, `-dirty` for uncommitted changes) and is skipped everywhere else, so
the default test command runs it only after a build of the same sources: an image of another
commit could expect another schema than the stack's. SICHRPLACE_IMAGE names another image.
"""

from __future__ import annotations

import os
import shutil

import pytest

from sichrplace.config import get_settings
from sichrplace.ops.image import smoke
from sichrplace.ops.image.base import image_exists
from sichrplace.ops.image.build import git_revision
from sichrplace.ops.image.host import podman_env, write_containers_conf
from sichrplace.ops.image.layout import layout

pytestmark = pytest.mark.image


@pytest.fixture(scope="module")
def image_and_env() -> tuple[str, dict[str, str]]:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (`sichrplace image build` installs it)")
    where = layout()
    write_containers_conf(where.containers_conf)
    env = podman_env(where.containers_conf)
    image = os.environ.get("SICHRPLACE_IMAGE") or smoke.default_image(git_revision(where.root).tag)
    if not image_exists(image, env):
        pytest.skip(f"{image} does not exist: `sichrplace image build` makes it")
    return image, env


def test_the_image_serves_readyz_and_search_as_a_read_only_non_root_container(
    image_and_env: tuple[str, dict[str, str]],
) -> None:
    image, env = image_and_env
    checks, logs = smoke.smoke(image, get_settings(), env)
    failed = [f"{c.name}: {c.detail}" for c in checks if not c.ok]
    assert not failed, "\n".join(failed) + "\n--- container log ---\n" + logs
    assert {c.name for c in checks} >= {"readyz", "search", "user", "read-only root", "stop"}
