"""``measure(plan)``: the launch measurement of any plan, whatever the vendor (``pvmkit.measure``).

The module is called ``prediction`` so that importing it never shadows the function ``pvmkit.measure``.

SEV and SEV-ES give the 32-byte SHA-256 launch digest (GCTX.LD), SNP and sw the 48-byte SNP launch
digest (the report's MEASUREMENT), TDX the 48-byte MRTD, CCA the realm's RIM (32, 48 or 64 bytes,
by the realm's hash algorithm). Each is computed by the vendor's measurer
backend run through :class:`pvmkit.launch.Launcher`, so the plan's ops are checked exactly as a KVM
driver would check them.
"""

from __future__ import annotations

from pvmkit.plan import LaunchPlan
from pvmkit.vendor import load

__all__ = ["measure"]


def measure(plan: LaunchPlan) -> bytes:
    """Predict the launch measurement of ``plan`` with its vendor's measurer (``VendorSpec.measurer``)."""
    measurement: bytes = load(plan.init.vendor.spec.measurer)(plan)
    return measurement
