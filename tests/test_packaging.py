"""Every package folder is declared in setup.cfg (find: cannot see through package_dir)."""

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_all_packages_listed():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    found = set()
    for top, name in (("audiokit", "audiokit"), ("kernels", "audiokit.kernels")):
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top).parts
            found.add(".".join((name, *rel)))
    assert found - listed == set(), f"add to setup.cfg [options] packages: {sorted(found - listed)}"
