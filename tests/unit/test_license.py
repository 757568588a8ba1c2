"""The LICENSE file is the licence pyproject.toml declares (issue 9 part 5): the Apache License 2.0
text as the Apache Software Foundation publishes it (https://www.apache.org/licenses/LICENSE-2.0.txt;
Debian ships the same text as /usr/share/common-licenses/Apache-2.0)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# SHA-256 of https://www.apache.org/licenses/LICENSE-2.0.txt
APACHE_2_0_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"


def test_license_file_is_the_declared_licence() -> None:
    declared = re.search(r'^license = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert declared is not None and declared.group(1) == "Apache-2.0"
    text = (ROOT / "LICENSE").read_bytes()
    assert b"Apache License" in text[:200] and b"Version 2.0, January 2004" in text[:200]
    assert hashlib.sha256(text).hexdigest() == APACHE_2_0_SHA256
