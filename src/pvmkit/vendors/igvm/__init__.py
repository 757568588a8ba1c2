"""IGVM files as launch plans (:mod:`pvmkit.vendors.igvm.plan`); the format is :mod:`pvmkit.formats.igvm`."""
