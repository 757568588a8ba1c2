"""Arm CCA realms: the Realm Initial Measurement (RIM) and REM extends (spec cca_igvm.md §A1).

:mod:`pvmkit.vendors.cca.realm` holds the RMM structures, :mod:`pvmkit.vendors.cca.measure` the RIM
of a launch plan. There is no KVM driver: the KVM CCA uAPI is not merged (Linux 7.2; spec §A2.1).
"""
