"""What installing the project puts in site-packages: one package, inworld_realtime, its dist-info, and the licence."""

from __future__ import annotations

import ast
import re
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(sysconfig.get_paths()["purelib"])
ALLOWED = re.compile(r"inworld_realtime|inworld_realtime-[^/]+\.dist-info|__editable__\.inworld_realtime-[^/]+\.pth"
                     r"|__editable___inworld_realtime_\w+_finder\.py")


def _dist_info() -> Path:
    found = sorted(SITE.glob("inworld_realtime-*.dist-info"))
    assert len(found) == 1, found
    return found[0]


def _record() -> list[str]:
    return [line.rsplit(",", 2)[0] for line in (_dist_info() / "RECORD").read_text(encoding="utf-8").splitlines()
            if line.strip()]


def test_nothing_but_inworld_realtime_lands_at_the_top_of_site_packages() -> None:
    """No generic ``protocol``/``io_adapters``/``emulator`` that PyPI's packages of those names would collide with."""
    tops = {entry.split("/", 1)[0] for entry in _record()
            if not entry.startswith("../") and not entry.startswith("__pycache__/")}
    assert tops and all(ALLOWED.fullmatch(top) for top in tops), tops
    assert (_dist_info() / "top_level.txt").read_text(encoding="utf-8").split() == ["inworld_realtime"]
    for finder in SITE.glob("__editable___inworld_realtime_*_finder.py"):  # an editable install's import hook
        mapping = re.search(r"^MAPPING: [^=]+= (\{.*?\})$", finder.read_text(encoding="utf-8"), flags=re.M)
        assert mapping is not None
        names = ast.literal_eval(mapping.group(1))
        assert names and all(name == "inworld_realtime" or name.startswith("inworld_realtime.") for name in names)
    for pth in SITE.glob("__editable__.inworld_realtime-*.pth"):  # a strict editable install: a tree of links
        for line in pth.read_text(encoding="utf-8").splitlines():
            tree = Path(line.strip())
            if line.strip() and not line.startswith("import") and tree.is_dir() and tree != ROOT:
                assert sorted(p.name for p in tree.iterdir() if p.name != "__pycache__") == ["inworld_realtime"]


def test_the_licence_is_in_the_distribution() -> None:
    licence = [entry for entry in _record() if entry.endswith("/LICENSE")]
    assert licence, _record()
    installed = SITE / licence[0]
    assert installed.read_text(encoding="utf-8") == (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "BSD-2-Clause" in (_dist_info() / "METADATA").read_text(encoding="utf-8")


def test_the_packages_the_wheel_builds_are_all_under_inworld_realtime() -> None:
    """What a wheel would hold, from the build configuration (building one offline needs setuptools>=77)."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    assert all(name.split(".")[0] == "inworld_realtime" for name in config["packages"])
    assert set(config["package-dir"]) <= set(config["packages"])
    assert config["license-files"] == ["LICENSE"]
