"""LibreOffice headless (Debian's libreoffice-calc-nogui, installed by `make test`) as offices use it: it opens a
workbook, computes its formulas, and saves it again or prints it to PDF."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

SOFFICE = Path("/usr/bin/soffice")
# A profile where Calc computes every formula of a workbook it opens (the default trusts the values a file
# carries, and a workbook written by a program carries none).
PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse">
<value>0</value></prop></item>
</oor:items>
"""


def require_libreoffice() -> None:
    if not SOFFICE.exists():
        message = "Debian's libreoffice-calc-nogui is needed (make test installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def convert(paths: Sequence[Path], to: str, out_dir: Path, work: Path) -> list[Path]:
    """Each workbook opened and saved as `to` (xlsx: with its formulas computed; pdf: printed) in out_dir."""
    require_libreoffice()
    profile = work / "lo-profile"
    (profile / "user").mkdir(parents=True, exist_ok=True)
    (profile / "user" / "registrymodifications.xcu").write_text(PROFILE, encoding="utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([str(SOFFICE), f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
                           "--convert-to", to, "--outdir", str(out_dir), *map(str, paths)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "HOME": str(work)},
                          check=False)
    outputs = [out_dir / f"{Path(p).stem}.{to.split(':')[0]}" for p in paths]
    missing = [p for p in outputs if not p.exists()]
    assert done.returncode == 0 and not missing, (done.stdout, done.stderr, missing)
    return outputs
