"""Loaders: a guest image file turned into a launch plan with a loader's rules, and back.

:mod:`pvmkit.loaders.igvm` turns an IGVM file (format: :mod:`pvmkit.formats.igvm`) into a plan for one
platform, with the rules of QEMU, igvmmeasure or the igvm crate explicit, and writes a plan as an IGVM
file. Pure layer: it needs the plan and the AMD ID block, which the formats layer may not import.
"""
