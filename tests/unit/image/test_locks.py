"""The image's locks agree with pyproject.toml, so the image cannot drift from the pins the
tests run with; every entry is hash-pinned."""

from __future__ import annotations

from sichrplace.ops.image import lock
from sichrplace.ops.image.audit import parse_ignores
from sichrplace.ops.image.layout import layout

WHERE = layout()


def test_the_locks_are_in_step_with_pyproject() -> None:
    assert lock.check(WHERE) == []


def test_every_runtime_pin_of_pyproject_is_locked_at_its_version() -> None:
    pins = lock.pyproject_pins(WHERE.root / "pyproject.toml")
    locked = lock.lock_pins(WHERE.requirements_lock.read_text(encoding="utf-8"))
    assert len(pins) > 30
    assert {name: locked.get(name) for name in pins} == pins


def test_the_lock_holds_no_dev_tool() -> None:
    locked = lock.lock_pins(WHERE.requirements_lock.read_text(encoding="utf-8"))
    assert not {"pytest", "mypy", "ruff", "pip", "setuptools"} & set(locked)


def test_drift_is_found() -> None:
    """The check can fail: a lock that says another version, or lacks a pin or a hash."""
    text = WHERE.requirements_lock.read_text(encoding="utf-8")
    pins = lock.pyproject_pins(WHERE.root / "pyproject.toml")
    stale = lock.lock_pins(text.replace(f"fastapi=={pins['fastapi']}", "fastapi==0.1.0", 1))
    assert lock.drift(pins, stale) == [f"fastapi: pinned {pins['fastapi']}, locked 0.1.0"]
    assert lock.drift({"absent": "1.0"}, stale) == ["absent==1.0 is not in the lock"]
    hashed = "baz==2.0 \\\n    --hash=sha256:" + "0" * 64
    assert lock.unhashed("foo==1.0\n    # via bar\n" + hashed) == ["foo"]


def test_names_compare_as_pep_503_says() -> None:
    assert lock.lock_pins("SQLAlchemy[asyncio]==2.1.9\nPyJWT[crypto] == 2.15.1") == {
        "sqlalchemy": "2.1.9",
        "pyjwt": "2.15.1",
    }


def test_the_audit_ignore_file_parses_and_gives_reasons() -> None:
    parse_ignores(WHERE.audit_ignore.read_text(encoding="utf-8"))
