"""Double of slicer.packaging (Slicer 5.12+). Records what would be installed; installs nothing."""

from __future__ import annotations

_ensureCalls: list = []


def load_requirements(path):
    with open(path, encoding="utf-8") as f:
        return [ln.split("#")[0].strip() for ln in f if ln.split("#")[0].strip()]


def pip_check(req, _seen=None):
    from importlib import metadata

    name = str(req).split(";")[0]
    for sep in ("==", ">=", "<=", "~=", "!=", ">", "<", "["):
        name = name.split(sep)[0]
    try:
        metadata.version(name.strip())
        return True
    except metadata.PackageNotFoundError:
        return False


def pip_ensure(
    requirements,
    constraints=None,
    skip_packages=None,
    prompt_install=True,
    prompt_restart=True,
    requester=None,
    skip_in_testing=True,
    show_progress=True,
):
    _ensureCalls.append((requirements, requester))
    missing = [
        r for r in (requirements if isinstance(requirements, list) else [requirements]) if not pip_check(r)
    ]
    if missing and prompt_install:
        import slicer

        if not slicer.util.confirmOkCancelDisplay(f"{len(missing)} Python packages need to be installed."):
            raise RuntimeError("User declined package installation")
    return None
