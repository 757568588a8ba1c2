#!/usr/bin/env python3
"""Fetch peer tools and real inputs that PyPI does not carry, for the cross-check tests, into
``.cache/peers``:

* ``osslsigncode`` 2.9 from Debian bookworm-backports (bookworm's own 2.5 has no ``extract-data``), an
  independent Authenticode implementation (``PVMKIT_OSSLSIGNCODE``;
  ``tests/crosscheck/test_authenticode_peers.py::test_authenticode_against_osslsigncode``);
* Debian bookworm's ``python3-libfdt`` (libfdt's own binding, ``PVMKIT_PYLIBFDT``), which reads back
  the DTBs pvmkit writes (``tests/crosscheck/test_fdt_libfdt.py``);
* Debian bookworm's ``shim-signed``: shim binaries signed by Microsoft, whose signatures carry the
  Authenticode digest of the file (``PVMKIT_PE_SAMPLES``;
  ``test_authenticode_peers.py::test_authenticode_of_signed_samples``);
* Debian's ``systemd`` (with ``libsystemd-shared``) for ``systemd-measure``, the oracle of the UKI section
  measurements, for each systemd version pvmkit models: bookworm's 252 and bookworm-backports' 254, both
  built for bookworm's libc 2.36, and trixie's 257, which needs libc 2.38 and runs under trixie's own
  dynamic loader and ``libc6`` (``PVMKIT_SYSTEMD_MEASURE``: a directory of ``systemd-measure-252``/
  ``-254``/``-257`` wrappers), and ``systemd-boot-efi`` of the same versions, real systemd-boot and
  systemd-stub EFI binaries (``PVMKIT_SYSTEMD_BOOT_EFI``: ``252/``, ``254/``, ``257/``;
  ``tests/unit/test_tdx_uki*.py``); and the newest systemd Debian ships (sid's, 262 when this was
  written, ``systemd-measure`` from its ``systemd-tpm`` package, run under sid's own loader and libc),
  as ``systemd-measure-newest`` and ``newest/`` beside them: evidence of a version pvmkit does not model
  (docs/tdx-measure.md, "systemd versions not modelled");
* Debian trixie-backports' QEMU 11.1.3, built for libc 2.38+, run under trixie's own dynamic loader and
  ``libc6`` with its shared-library closure from trixie (``PVMKIT_QEMU_11``: a ``qemu-system-x86_64``
  wrapper), the oracle of the ACPI generator's 11.1 profile (``tests/unit/test_tdx_acpi_qemu11.py``);
* Debian bookworm's disk tools (``PVMKIT_DISK_TOOLS``: a directory of ``mkfs.fat`` from dosfstools,
  ``mcopy``/``mmd``/``mdel`` from mtools, ``sfdisk`` from fdisk, and ``mke2fs`` when the host has e2fsprogs,
  which bookworm installs everywhere: priority required), which build the FAT and ext4 images and
  GPT disks the filesystem readers are checked against (``tests/crosscheck/test_fat_reader.py``,
  ``test_ext4_reader.py``),
  and Debian's signed GRUB (``PVMKIT_GRUB_EFI``: ``grub-efi-amd64-signed``'s ``grubx64.efi.signed``)
  for the disk images of the shim + GRUB boot, and Debian's ``grub-common`` (``PVMKIT_GRUB_COMMON``: its
  unpacked root, ``etc/grub.d/*`` and ``usr/share/grub/grub-mkconfig_lib``), whose grub-mkconfig scripts
  write the ``grub.cfg`` the GRUB follower is checked on (``tests/crosscheck/test_grub_mkconfig.py``);
* Debian's TPM-enabled OVMF of three edk2 releases, booted under TCG as the oracle of the SMBIOS and
  boot-option models: sid's ``ovmf-generic`` 2026.08 (``PVMKIT_OVMF_TPM``), trixie's ``ovmf`` 2025.02
  (``PVMKIT_OVMF_2025_02``) and bookworm's 2022.11 (``PVMKIT_OVMF_2022_11``);
* Debian trixie's kernel (``PVMKIT_LINUX_KERNEL``: the ``vmlinuz`` of ``linux-image-amd64``'s kernel
  package, Linux 6.12), the ``.linux`` of the UKI booted through systemd-boot 257 under that OVMF
  (``tests/crosscheck/test_uki_ovmf_boot.py``);
* the Linux source of the kernel-rule table (``PVMKIT_LINUX_SOURCE``, ``tools/fetch_linux_source.py``:
  Debian unstable's ``linux-source-7.2`` reduced to KVM's sources and selftests, in
  ``.cache/linux-source``; ``tests/unit/test_kernel_rules.py``).

Prints ``NAME=PATH`` lines for ``./dev test`` to export. Best effort: an unreachable archive or a host
that cannot run a binary gives one line on stderr and no assignment, and the tests that need it skip
with their reason. Never touches the system's apt state.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from debfetch import Unreachable, fetch_deb, locked, run
from fetch_linux_source import fetch as linux_source

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "peers"
KEYRING = "[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]"
BOOKWORM = f"deb {KEYRING} http://deb.debian.org/debian bookworm main\n"
BACKPORTS = f"deb {KEYRING} http://deb.debian.org/debian bookworm-backports main\n"
TRIXIE = f"deb {KEYRING} http://deb.debian.org/debian trixie main\n"
SID = f"deb {KEYRING} http://deb.debian.org/debian sid main\n"
TRIXIE_BACKPORTS = f"deb {KEYRING} http://deb.debian.org/debian trixie-backports main\n"
LOCK_TIMEOUT = 10
#: packages fetched from more than one suite: one cache directory per suite
_PER_SUITE = frozenset({"systemd", "libsystemd-shared", "systemd-boot-efi", "libc6"})


def _fetch(package: str, source_line: str, marker: str, *, per_suite: bool = False) -> Path:
    """The unpacked root of ``package`` (one fetch at a time per cache directory); ``per_suite``: in a
    cache directory of its suite, as the packages of ``_PER_SUITE`` always are."""
    suite = "" if source_line == BOOKWORM else "-" + source_line.split()[-2]
    cache = CACHE / (package + suite) if per_suite or package in _PER_SUITE else CACHE / package
    with locked(cache, LOCK_TIMEOUT):
        root, _version = fetch_deb(package, source_line, cache, marker)
    return root


def osslsigncode() -> Path:
    tool = _fetch("osslsigncode", BACKPORTS, "usr/bin/osslsigncode") / "usr" / "bin" / "osslsigncode"
    probe = run([str(tool), "--version"], timeout=10)
    if probe.returncode != 0:
        raise Unreachable(f"{tool} does not run here: {probe.stderr.strip()[:120]}")
    return tool


def signed_shims() -> Path:
    shim = _fetch("shim-signed", BOOKWORM, "usr/lib/shim/shimx64.efi.signed") / "usr" / "lib" / "shim"
    if not any(shim.glob("*.signed")):
        raise Unreachable(f"no signed shim under {shim}")
    return shim


def pylibfdt() -> Path:
    """libfdt's own Python binding (Debian bookworm's python3-libfdt and libfdt1, dtc 1.6.1): the
    directory holding ``libfdt.py``; ``_libfdt`` needs ``libfdt.so.1`` from the sibling package, which
    tests preload (tests/support/pylibfdt.py)."""
    lib = _fetch("libfdt1", BOOKWORM, "usr/lib/x86_64-linux-gnu/libfdt.so.1")
    py = _fetch("python3-libfdt", BOOKWORM, "usr/lib/python3/dist-packages/libfdt.py")
    so = lib / "usr" / "lib" / "x86_64-linux-gnu" / "libfdt.so.1"
    if not so.exists():
        raise Unreachable(f"no libfdt.so.1 under {lib}")
    return py / "usr" / "lib" / "python3" / "dist-packages"


def disk_tools() -> Path:
    """Wrapper scripts for mkfs.fat, mcopy, mmd, mdel, sfdisk (and the host's mke2fs, e2fsck)."""
    fat = _fetch("dosfstools", BOOKWORM, "sbin/mkfs.fat") / "sbin" / "mkfs.fat"
    mtools = _fetch("mtools", BOOKWORM, "usr/bin/mtools") / "usr" / "bin" / "mtools"
    sfdisk = _fetch("fdisk", BOOKWORM, "sbin/sfdisk") / "sbin" / "sfdisk"
    libdirs: list[str] = []
    for package in ("libfdisk1", "libreadline8"):
        libdirs += _library_dirs(_fetch(package, BOOKWORM, "usr/share/doc/" + package + "/copyright"))
    out = CACHE / "disk-tools"
    env = f"LD_LIBRARY_PATH='{':'.join(libdirs)}' " if libdirs else ""
    # mtools picks the command by argv[0]; MTOOLS_SKIP_CHECK: images without a partition table
    for name, tool, prefix in (
        ("mkfs.fat", fat, ""),
        ("sfdisk", sfdisk, env),
        ("mcopy", mtools, "MTOOLS_SKIP_CHECK=1 "),
        ("mmd", mtools, "MTOOLS_SKIP_CHECK=1 "),
        ("mdel", mtools, "MTOOLS_SKIP_CHECK=1 "),
    ):
        argv0 = f"-a {name} " if tool.name != name else ""
        _wrapper(out / name, f"#!/bin/bash\n{prefix}exec {argv0}'{tool}' \"$@\"\n")
    for name in ("mke2fs", "e2fsck"):  # e2fsprogs: bookworm's priority "required", on every system
        system = (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if Path(p).exists())
        found = shutil.which(name) or next(system, None)
        if found:
            _wrapper(out / name, f"#!/bin/sh\nexec '{found}' \"$@\"\n")
    for name, flag in (("mkfs.fat", "--help"), ("sfdisk", "--version"), ("mcopy", "--version")):
        probe = run([str(out / name), flag], timeout=10)
        if probe.returncode != 0:
            raise Unreachable(f"{name} does not run here: {(probe.stderr or probe.stdout).strip()[:120]}")
    return out


def grub_efi() -> Path:
    """Debian bookworm's signed GRUB for x86_64 UEFI (``grubx64.efi.signed``)."""
    root = _fetch("grub-efi-amd64-signed", BOOKWORM, "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed")
    return root / "usr" / "lib" / "grub" / "x86_64-efi-signed"


def grub_common() -> Path:
    """Debian bookworm's grub-common, unpacked: the grub-mkconfig scripts (``etc/grub.d``)."""
    return _fetch("grub-common", BOOKWORM, "etc/grub.d/00_header")


# Debian's QEMU for the TDX RTMR0 ACPI model (docs/tdx-measure.md): bookworm-backports' build, which
# runs on bookworm's libc, with the bookworm libraries it links that a base system lacks.
QEMU_LIBRARIES = (
    "libaio1", "libcapstone4", "libdaxctl1", "libfdt1", "libfuse3-3", "libibverbs1", "libndctl6",
    "libnl-3-200", "libnl-route-3-200", "libpmem1", "librdmacm1", "libslirp0", "liburing2", "libvdeplug2",
)  # fmt: skip


def qemu() -> Path:
    """A ``qemu-system-x86_64`` wrapper script (library path and data directory set) for Debian's
    QEMU from bookworm-backports."""
    root = _fetch("qemu-system-x86", BACKPORTS, "usr/bin/qemu-system-x86_64")
    data = _fetch("qemu-system-data", BACKPORTS, "usr/share/qemu/linuxboot_dma.bin")
    libdirs = []
    for package in QEMU_LIBRARIES:
        libdirs += _library_dirs(_fetch(package, BOOKWORM, "usr/share/doc/" + package + "/copyright"))
    wrapper = CACHE / "qemu" / "qemu-system-x86_64"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    script = (
        "#!/bin/sh\n"
        f"LD_LIBRARY_PATH='{':'.join(libdirs)}' exec '{root}/usr/bin/qemu-system-x86_64' "
        f"-L '{data}/usr/share/qemu' \"$@\"\n"
    )
    if not wrapper.is_file() or wrapper.read_text() != script:
        tmp = wrapper.with_suffix(".tmp")
        tmp.write_text(script)
        tmp.chmod(0o755)
        tmp.replace(wrapper)
    probe = run([str(wrapper), "--version"], timeout=30)
    if probe.returncode != 0:
        raise Unreachable(f"Debian's QEMU does not run here: {probe.stderr.strip()[:120]}")
    return wrapper


# QEMU 11.1 (Debian trixie-backports' 1:11.1.3+ds) is built for trixie's libc 2.41: it runs under trixie's
# own dynamic loader, with its shared-library closure from trixie (the packages of its NEEDED entries
# and theirs; what a bookworm base system has in a new enough version is taken from the host).
QEMU_11_LIBRARIES = (
    "libaio1t64", "libbpf1", "libcapstone5", "libdaxctl1", "libelf1t64", "libfdt1", "libffi8", "libfuse3-4",
    "libglib2.0-0t64", "libgmp10", "libgnutls30t64", "libhogweed6t64", "libibverbs1", "libidn2-0",
    "libjpeg62-turbo", "libkmod2", "libndctl6", "libnettle8t64", "libnl-3-200", "libnl-route-3-200",
    "libnuma1", "libp11-kit0", "libpcre2-8-0", "libpixman-1-0", "libpmem1", "libpng16-16t64",
    "librdmacm1t64", "libsasl2-2", "libseccomp2", "libslirp0", "libtasn1-6", "libudev1", "libunistring5",
    "liburing2", "libvdeplug2t64", "libzstd1", "zlib1g", "libmount1", "libblkid1", "libselinux1",
    "libssl3t64",
)  # fmt: skip


def qemu_11() -> Path:
    """A ``qemu-system-x86_64`` wrapper script for Debian trixie-backports' QEMU 11.1, run by trixie's
    ``ld-linux`` with trixie's libc and the library closure above, and its own data directory."""
    root = _fetch("qemu-system-x86", TRIXIE_BACKPORTS, "usr/bin/qemu-system-x86_64", per_suite=True)
    data = _fetch("qemu-system-data", TRIXIE_BACKPORTS, "usr/share/qemu/linuxboot_dma.bin", per_suite=True)
    libc = _fetch("libc6", TRIXIE, "usr/share/doc/libc6/copyright") / "usr/lib/x86_64-linux-gnu"
    path = [str(libc)]
    links = CACHE / "qemu-11" / "lib"
    for package in QEMU_11_LIBRARIES:
        marker = "usr/share/doc/" + package + "/copyright"
        for i, found in enumerate(_library_dirs(_fetch(package, TRIXIE, marker, per_suite=True))):
            # a library path is ':'-separated, and an epoch puts a ':' in the unpacked root's name
            path.append(str(_link(links / f"{package}-{i}", Path(found))))
    path += ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"]
    script = (
        "#!/bin/sh\n"
        f"exec '{libc}/ld-linux-x86-64.so.2' --library-path '{':'.join(path)}' "
        f"'{root}/usr/bin/qemu-system-x86_64' -L '{data}/usr/share/qemu' \"$@\"\n"
    )
    wrapper = _wrapper(CACHE / "qemu-11" / "qemu-system-x86_64", script)
    probe = run([str(wrapper), "--version"], timeout=30)
    if probe.returncode != 0 or not probe.stdout.startswith("QEMU emulator version 11.1"):
        raise Unreachable(
            f"Debian's QEMU 11.1 does not run here: {(probe.stderr or probe.stdout).strip()[:120]}"
        )
    return wrapper


def ovmf_tpm() -> Path:
    """The directory of sid's ``ovmf-generic`` (``OVMF_CODE_4M.fd``, ``OVMF_VARS_4M.fd``): a TPM-enabled
    OVMF of the edk2 release of the fixtures' ``ovmf-inteltdx``, whose boot under TCG logs the SMBIOS
    measurement in its TCG2 log (tests/crosscheck/test_smbios_ovmf_boot.py)."""
    return _fetch("ovmf-generic", SID, "usr/share/OVMF/OVMF_CODE_4M.fd") / "usr" / "share" / "OVMF"


def ovmf_2025_02() -> Path:
    """The directory of trixie's ``ovmf`` (edk2-stable202502, TPM-enabled): the release before the
    BootManagerMenuApp entries, booted for its boot options (tests/crosscheck/test_ovmf_boot_options.py)."""
    return _fetch("ovmf", TRIXIE, "usr/share/OVMF/OVMF_CODE_4M.fd", per_suite=True) / "usr" / "share" / "OVMF"


def ovmf_2022_11() -> Path:
    """The directory of bookworm's ``ovmf`` (edk2-stable202211, TPM-enabled; a network stack that needs
    no RNG), booted for its boot options."""
    return _fetch("ovmf", BOOKWORM, "usr/share/OVMF/OVMF_CODE_4M.fd") / "usr" / "share" / "OVMF"


def linux_kernel() -> Path:
    """Debian trixie's kernel image (``linux-image-amd64``'s dependency, a Linux >= 6.9 whose EFI stub
    measures its LoadOptions and initrd): the ``vmlinuz-*`` file, booted in a UKI by the systemd-boot
    cross-check (tests/crosscheck/test_uki_ovmf_boot.py)."""
    meta = _fetch("linux-image-amd64", TRIXIE, "usr/share/doc/linux-image-amd64/copyright", per_suite=True)
    debs = sorted(meta.parent.glob("linux-image-amd64_*.deb"))
    if not debs:
        raise Unreachable("linux-image-amd64's package file is gone from the cache")
    depends = run(["dpkg-deb", "-f", str(debs[-1]), "Depends"], timeout=30).stdout
    m = re.search(r"linux-image-[0-9][^\s,(]*-amd64(?:-unsigned)?", depends)
    if m is None:
        raise Unreachable(f"linux-image-amd64 depends on no kernel image: {depends.strip()[:120]}")
    root = _fetch(m.group(0), TRIXIE, "usr/share/doc/" + m.group(0) + "/copyright", per_suite=True)
    kernels = sorted((root / "boot").glob("vmlinuz-*"))
    if not kernels:
        raise Unreachable(f"no vmlinuz in {m.group(0)}")
    return kernels[-1]


def swtpm() -> Path:
    """A wrapper script for bookworm's ``swtpm`` (libtpms and swtpm's own library on its path)."""
    root = _fetch("swtpm", BOOKWORM, "usr/bin/swtpm")
    libdirs = _library_dirs(_fetch("libtpms0", BOOKWORM, "usr/share/doc/libtpms0/copyright"))
    libs = _fetch("swtpm-libs", BOOKWORM, "usr/share/doc/swtpm-libs/copyright")
    libdirs.append(str(libs / "usr/lib/x86_64-linux-gnu/swtpm"))
    script = f"#!/bin/sh\nLD_LIBRARY_PATH='{':'.join(libdirs)}' exec '{root}/usr/bin/swtpm' \"$@\"\n"
    wrapper = _wrapper(CACHE / "swtpm-wrapper" / "swtpm", script)
    probe = run([str(wrapper), "--version"], timeout=30)
    if probe.returncode != 0:
        raise Unreachable(f"Debian's swtpm does not run here: {probe.stderr.strip()[:120]}")
    return wrapper


# libsystemd-shared's libraries that a minimal bookworm system may lack (its other dependencies are
# in every bookworm base system: libc6, libacl1, libcap2, libcrypt1, libgcrypt20, libmount1, ...)
SYSTEMD_LIBRARIES = ("libapparmor1", "libip4tc2", "libkmod2")


def _library_dirs(root: Path) -> list[str]:
    return [str(d) for d in (root / "usr/lib/x86_64-linux-gnu", root / "lib/x86_64-linux-gnu") if d.is_dir()]


def _link(path: Path, target: Path) -> Path:
    """``path``, a symbolic link to ``target`` (replaced when it pointed elsewhere)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_symlink() or path.resolve() != target.resolve():
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        tmp.replace(path)
    return path


def _wrapper(path: Path, script: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != script:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(script)
        tmp.chmod(0o755)
        tmp.replace(path)
    return path


#: the systemd versions whose rules pvmkit models (pvmkit.vendors.tdx.uki), by the Debian suite that has them
SYSTEMD_SUITES = {"252": BOOKWORM, "254": BACKPORTS, "257": TRIXIE}


def _own_libc_measure(suite: str, extra: list[str], package: str = "systemd") -> str:
    """The command line of a systemd-measure built for a newer libc than the host's (trixie's 257, sid's
    newest): it runs under its suite's own dynamic loader and libc (and libssl3t64), with bookworm's other
    libraries. From systemd 262 on Debian ships systemd-measure in ``systemd-tpm``."""
    root = _fetch(package, suite, "usr/lib/systemd/systemd-measure", per_suite=True)
    shared = _fetch("libsystemd-shared", suite, "usr/share/doc/libsystemd-shared/copyright")
    libc = _fetch("libc6", suite, "usr/share/doc/libc6/copyright") / "usr/lib/x86_64-linux-gnu"
    marker = "usr/share/doc/libssl3t64/copyright"
    if suite == TRIXIE:  # trixie's libssl3t64 has always been in the suite-less cache directory
        ssl = _fetch("libssl3t64", suite, marker) / "usr/lib/x86_64-linux-gnu"
    else:
        ssl = _fetch("libssl3t64", suite, marker, per_suite=True) / "usr/lib/x86_64-linux-gnu"
    path = [str(libc), str(shared / "usr/lib/x86_64-linux-gnu/systemd"), str(ssl), *extra]
    path += ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu"]
    return (
        f"exec '{libc}/ld-linux-x86-64.so.2' --library-path '{':'.join(path)}' "
        f"'{root}/usr/lib/systemd/systemd-measure' \"$@\"\n"
    )


def _probe_measure(wrapper: Path, version: str) -> str:
    """The ``systemd N (…)`` line of a wrapper's ``--version``; Unreachable unless it runs and, with
    ``version``, names that release."""
    probe = run([str(wrapper), "--version"], timeout=30)
    line = probe.stdout.split("\n", 1)[0]
    if probe.returncode != 0 or not line.startswith(f"systemd {version}"):
        reason = (probe.stderr or line).strip()[:120]
        raise Unreachable(f"Debian's systemd-measure {version or 'newest'} does not run here: {reason}")
    return line


def _newest_measure(out: Path, extra: list[str]) -> None:
    """``systemd-measure-newest``: sid's (whatever release it has), for the canary tests of a version
    pvmkit does not model (tests/unit/test_tdx_uki.py)."""
    command = _own_libc_measure(SID, extra, "systemd-tpm")
    _probe_measure(_wrapper(out / "systemd-measure-newest", "#!/bin/sh\n" + command), "")


def systemd_measure() -> Path:
    """A directory of ``systemd-measure-VERSION`` wrapper scripts (library path set), one per modelled
    systemd version: bookworm's 252, bookworm-backports' 254, trixie's 257; and sid's, ``-newest``."""
    out = CACHE / "systemd-measure"
    extra: list[str] = []
    for package in SYSTEMD_LIBRARIES:
        extra += _library_dirs(_fetch(package, BOOKWORM, "usr/share/doc/" + package + "/copyright"))
    for version, suite in SYSTEMD_SUITES.items():
        if suite == TRIXIE:
            command = _own_libc_measure(TRIXIE, extra)
        else:
            root = _fetch("systemd", suite, "lib/systemd/systemd-measure")  # not merged-/usr
            shared = _fetch("libsystemd-shared", suite, "usr/share/doc/libsystemd-shared/copyright")
            libdirs = [str(shared / "usr/lib/x86_64-linux-gnu/systemd"), *extra]
            command = (
                f"LD_LIBRARY_PATH='{':'.join(libdirs)}' exec '{root}/lib/systemd/systemd-measure' \"$@\"\n"
            )
        wrapper = _wrapper(out / f"systemd-measure-{version}", "#!/bin/sh\n" + command)
        _probe_measure(wrapper, f"{version} ")
    try:
        _newest_measure(out, extra)
    except (Unreachable, OSError) as exc:  # the modelled versions stay usable without it
        print(f"fetch_peers: sid's systemd-measure unavailable ({exc}); its tests will skip", file=sys.stderr)
    return out


def systemd_boot_efi() -> Path:
    """A directory with one subdirectory per modelled systemd version (``252``, ``254``, ``257``) holding that
    version's ``systemd-bootx64.efi`` and ``linuxx64.efi.stub`` (and 254's ``addonx64.efi.stub``), and
    ``newest``: sid's, whatever release it has."""
    out = CACHE / "systemd-boot-efi-versions"
    out.mkdir(parents=True, exist_ok=True)
    for version, suite in SYSTEMD_SUITES.items():
        root = _fetch("systemd-boot-efi", suite, "usr/lib/systemd/boot/efi/linuxx64.efi.stub")
        link = out / version
        target = root / "usr" / "lib" / "systemd" / "boot" / "efi"
        if not link.is_symlink() or link.resolve() != target.resolve():
            tmp = out / f".{version}.tmp"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(target)
            tmp.replace(link)
    try:
        root = _fetch("systemd-boot-efi", SID, "usr/lib/systemd/boot/efi/linuxx64.efi.stub")
        _link(out / "newest", root / "usr" / "lib" / "systemd" / "boot" / "efi")
    except (Unreachable, OSError) as exc:  # the modelled versions stay usable without it
        print(f"fetch_peers: sid's systemd-boot-efi unavailable ({exc}); its tests skip", file=sys.stderr)
    return out


def main() -> int:
    for name, fetch in (
        ("PVMKIT_OSSLSIGNCODE", osslsigncode),
        ("PVMKIT_PE_SAMPLES", signed_shims),
        ("PVMKIT_PYLIBFDT", pylibfdt),
        ("PVMKIT_LINUX_SOURCE", linux_source),
        ("PVMKIT_QEMU", qemu),
        ("PVMKIT_QEMU_11", qemu_11),
        ("PVMKIT_SYSTEMD_MEASURE", systemd_measure),
        ("PVMKIT_SYSTEMD_BOOT_EFI", systemd_boot_efi),
        ("PVMKIT_DISK_TOOLS", disk_tools),
        ("PVMKIT_GRUB_EFI", grub_efi),
        ("PVMKIT_GRUB_COMMON", grub_common),
        ("PVMKIT_OVMF_TPM", ovmf_tpm),
        ("PVMKIT_OVMF_2025_02", ovmf_2025_02),
        ("PVMKIT_OVMF_2022_11", ovmf_2022_11),
        ("PVMKIT_SWTPM", swtpm),
        ("PVMKIT_LINUX_KERNEL", linux_kernel),
    ):
        try:
            print(f"{name}={fetch()}")
        except (Unreachable, OSError) as exc:
            print(f"fetch_peers: {name} unavailable ({exc}); its cross-check will skip", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
