"""Reference values: the complete set of acceptable launch values, out in verifiers' formats and back.

* :mod:`~pvmkit.refvalues.names`: the names (Trustee's) and encodings;
* :mod:`~pvmkit.refvalues.model`: :class:`RefValueSet`, name → distinct values → their origins;
* :mod:`~pvmkit.refvalues.trustee`: Trustee RVPS ``sample`` provenance and registration message;
* :mod:`~pvmkit.refvalues.setjson`: pvmkit's own ``pvmkit.reference-values/1`` JSON;
* :mod:`~pvmkit.refvalues.read`: read any of them (and pvmkit's measurement JSON, CoRIMs) back;
  :func:`load_expectations` gives verifiers name → ``frozenset[bytes]``.

docs/reference-values.md describes the whole flow.
"""

from __future__ import annotations

from pvmkit.refvalues.model import RefValueSet
from pvmkit.refvalues.read import (
    CorimOptions,
    load_expectations,
    load_reference_values,
    read_reference_values,
)

__all__ = [
    "CorimOptions",
    "RefValueSet",
    "load_expectations",
    "load_reference_values",
    "read_reference_values",
]
