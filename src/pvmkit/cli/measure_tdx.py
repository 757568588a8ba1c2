"""``pvmkit measure --vendor tdx``: predict MRTD, or RTMR0–3 with ``--rtmr`` (docs/tdx-measure.md).

MRTD depends only on the firmware and the page-add order; RTMRs on the firmware, the RAM size, the
direct-boot kernel/initrd/cmdline, blobs captured from the VMM (ACPI, SMBIOS) and the host stack
versions. A register whose inputs are incomplete is printed as ``unknown`` with what is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import sys

from pvmkit.cli._common import (
    MAX_EVIDENCE,
    MAX_IMAGE,
    Parser,
    UsageError,
    atomic_write,
    map_file,
    parse_digest,
    parse_size,
    print_json,
    read_file,
)
from pvmkit.cli._options import output_format
from pvmkit.cli.measure_tdx_boot import LaunchBoot, boot_inputs
from pvmkit.cli.measure_tdx_disk import add_disk_boot_options
from pvmkit.cli.measure_tdx_smbios import SmbiosSource, add_smbios_options, check_smbios_options, table_sha384
from pvmkit.cli.measure_tdx_uki import add_uki_options, boot_path_events
from pvmkit.cli.measure_tdx_uki_digests import add_uki_digest_options
from pvmkit.errors import InputError
from pvmkit.plan import PageOrder

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["build_parser", "main", "mrtd_from_args", "rtmr_inputs_from_args", "rtmr_shapes_from_args"]

_ORDERS = {
    "interleaved": PageOrder.INTERLEAVED,
    "kvm-upstream": PageOrder.INTERLEAVED,
    "two-pass": PageOrder.TWO_PASS,
    "legacy-two-pass": PageOrder.TWO_PASS,
}
_ORDER_LABELS = {PageOrder.INTERLEAVED: "kvm-upstream (interleaved)", PageOrder.TWO_PASS: "legacy-two-pass"}


def _named_files(items: list[str], what: str) -> tuple[tuple[str, bytes], ...]:
    out = []
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise InputError(f"{what} takes NAME=FILE, got {item!r}")
        out.append((name, read_file(path)))
    return tuple(out)


def build_parser() -> Parser:
    p = Parser(
        "measure --vendor tdx",
        "Predict the MRTD (default) or, with --rtmr, RTMR0-3 of an Intel TDX guest booted by QEMU + OVMF.",
    )
    p.add_argument("--vendor", choices=["tdx"], required=True, help="protected-VM technology")
    p.add_argument("--firmware", "--ovmf", metavar="FILE", required=True, help="TDVF/OVMF image (QEMU -bios)")
    p.add_argument(
        "--order",
        choices=sorted(_ORDERS),
        help="MRTD page-add order: interleaved (= kvm-upstream, KVM >= 6.16; default) or two-pass "
        "(= legacy-two-pass, Canonical/dstack QEMU 8.x stacks; the default with --qemu-version < 9)",
    )
    p.add_argument(
        "--td-shim",
        action="store_true",
        help="td-shim rules: accept its section types, zero-pad measured sections (MRTD only)",
    )
    p.add_argument(
        "--output-format",
        choices=("hex", "json"),
        default="hex",
        help="how to print the result (json: as --json)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON object (docs/cli.md)")
    _add_rtmr_inputs(p.add_argument_group("RTMR prediction (--rtmr)"))
    add_disk_boot_options(p.add_argument_group("RTMR prediction: disk boot through shim and GRUB"))
    add_uki_options(p.add_argument_group("RTMR prediction: UKI boot, ESP directory"))
    add_uki_digest_options(p.add_argument_group("RTMR prediction: UKI boot from digests only"))
    add_smbios_options(
        p.add_argument_group("RTMR prediction: SMBIOS from QEMU's tables (OVMF >= stable202505)")
    )
    return p


def _add_rtmr_inputs(r: Any) -> None:
    """The RTMR options: direct-boot inputs, what OVMF measures from the VMM, the stack's versions."""
    r.add_argument("--rtmr", action="store_true", help="predict RTMR0-3 instead of MRTD")
    r.add_argument(
        "--memory",
        "-m",
        "--ram-size",
        metavar="SIZE[,SIZE...]",
        help="guest RAM as given to QEMU -m (e.g. 2G), up to 4 PiB; several sizes: one shape each",
    )
    r.add_argument(
        "--vcpus",
        metavar="N|A-B",
        help="vCPU counts (one shape each; also a comma list of N and A-B): without --qemu-binary or "
        "--acpi-* pvmkit generates each shape's ACPI tables (QEMU --qemu-version, the launch of "
        "--qemu-args); a label with --acpi-*",
    )
    r.add_argument(
        "--qemu-binary",
        metavar="FILE",
        help="qemu-system-x86_64 of the version that launches the TD: RTMR0's ACPI blobs come from it "
        "(run stopped under qtest, never booting), one run per shape",
    )
    r.add_argument(
        "--qemu-args",
        metavar="ARGS",
        default="",
        help="the launch's devices as QEMU arguments (one shell-quoted string), e.g. "
        '"-device virtio-net-pci,netdev=n0,romfile= -netdev user,id=n0"; for the generator a '
        "documented subset (default: dstack's devices); -smp gives the vCPU topology "
        "(sockets=,dies=,modules=,cores=,threads=,maxcpus=), the count stays --vcpus's",
    )
    r.add_argument(
        "--qemu-pic",
        choices=["on", "off"],
        help="-machine pic= of the launch (default: on below QEMU 9, off from 9, as upstream TDX "
        "forces); the tables follow it only from QEMU 9.1 (the MADT's PCAT_COMPAT): QEMU 8.2's MADT "
        "sets PCAT_COMPAT either way, so its captures do not show what the legacy stacks used",
    )
    r.add_argument(
        "--kernel", metavar="FILE", help="-kernel (bzImage/EFI stub); without it RTMR1/2 are unknown"
    )
    r.add_argument("--initrd", metavar="FILE", help="-initrd")
    r.add_argument(
        "--kernel-authenticode",
        metavar="HEX",
        help="instead of --kernel: the SHA-384 Authenticode digest of the kernel bytes OVMF loads",
    )
    r.add_argument(
        "--load-options-sha384",
        metavar="HEX",
        help="instead of --cmdline: SHA-384 of the LoadOptions the EFI stub measures "
        "(dstack's cmdline_sha384)",
    )
    r.add_argument("--initrd-sha384", metavar="HEX", help="instead of --initrd: its SHA-384")
    r.add_argument("--cmdline", "--append", metavar="S", default="", help="-append (kernel command line)")
    _add_vmm_blobs(r)


def _add_vmm_blobs(r: Any) -> None:
    """What OVMF measures that the VMM provides (ACPI, SMBIOS, fw_cfg items, boot variables) and the
    host stack's versions."""
    r.add_argument("--acpi-loader", metavar="FILE", help="fw_cfg etc/table-loader captured from the VMM")
    r.add_argument("--acpi-rsdp", metavar="FILE", help="fw_cfg etc/acpi/rsdp captured from the VMM")
    r.add_argument("--acpi-tables", metavar="FILE", help="fw_cfg etc/acpi/tables captured from the VMM")
    r.add_argument(
        "--acpi-blob",
        metavar="NAME=FILE",
        action="append",
        default=[],
        help="another ALLOCATEd ACPI fw_cfg file",
    )
    r.add_argument("--smbios", metavar="FILE", help="the SMBIOS table exactly as OVMF measures it (filtered)")
    r.add_argument("--smbios-digest", metavar="HEX", help="or the SHA-384 of that table")
    r.add_argument(
        "--fw-cfg",
        metavar="NAME=FILE",
        action="append",
        default=[],
        help="measured fw_cfg item (BootMenu, bootorder, etc/boot-menu-wait, ...); replaces the defaults",
    )
    r.add_argument(
        "--boot-var",
        metavar="NAME=FILE",
        action="append",
        default=[],
        help="BootOrder/Boot#### data in measured order; replaces OVMF's defaults",
    )
    r.add_argument(
        "--secure-boot",
        choices=["auto", "on", "off", "absent"],
        default="auto",
        help="SecureBoot variable value (auto: from the varstore)",
    )
    r.add_argument(
        "--sb-authority-cert",
        metavar="DER",
        action="append",
        default=[],
        help="db certificate that verified the kernel (EV_EFI_VARIABLE_AUTHORITY)",
    )
    r.add_argument(
        "--ovmf-version", metavar="V", help="edk2 stable tag of the OVMF build, e.g. 2026.08 (default)"
    )
    r.add_argument("--qemu-version", metavar="V", help="QEMU version, e.g. 10.2 (default)")
    r.add_argument("--linux-version", metavar="V", help="guest kernel version, e.g. 6.9 (default)")
    r.add_argument(
        "--shim", action="store_true", help="QEMU -shim boot (only its LoadOptions prefix is modelled)"
    )
    r.add_argument(
        "--event-log-out", metavar="FILE", help="write the predicted CC event log (CCEL data format)"
    )


def _order(args: argparse.Namespace) -> PageOrder:
    if args.order is not None:
        return _ORDERS[args.order]
    if args.qemu_version is not None and _parse_version(args.qemu_version, "QEMU") < (9, 0):
        return PageOrder.TWO_PASS
    return PageOrder.INTERLEAVED


def mrtd_from_args(args: argparse.Namespace, firmware: bytes) -> tuple[bytes, PageOrder, Any]:
    """(MRTD, page order, parsed TDVF metadata) for the MRTD options (shared with
    ``pvmkit reference-values``)."""
    from pvmkit.formats.tdvf import parse_tdvf
    from pvmkit.vendors.tdx.builder import build_tdvf_plan
    from pvmkit.vendors.tdx.measure import measure_mrtd

    order = _order(args)
    meta = parse_tdvf(firmware, qemu=not args.td_shim)
    mrtd = measure_mrtd(build_tdvf_plan(firmware, order=order, metadata=meta, zero_pad_measured=args.td_shim))
    return mrtd, order, meta


def _mrtd(args: argparse.Namespace, firmware: bytes) -> int:
    mrtd, order, meta = mrtd_from_args(args, firmware)
    if args.json:
        print_json(
            {
                "schema": "pvmkit.measure-tdx/1",
                "vendor": "tdx",
                "mrtd": mrtd.hex(),
                "order": order.value,
                "order_label": _ORDER_LABELS[order],
                "firmware_sha256": hashlib.sha256(firmware).hexdigest(),
                "metadata_offset": meta.offset,
                "metadata_layout": meta.location.value,
                "sections": [s.as_dict() for s in meta.sections],
            }
        )
    else:
        print(mrtd.hex())
    return 0


def rtmr_inputs_from_args(args: argparse.Namespace, firmware: bytes) -> Any:
    """The :class:`~pvmkit.vendors.tdx.rtmr.RtmrInputs` the ``--rtmr`` options describe for one shape
    (captured ACPI blobs or none)."""
    memories = _memories(args)
    if len(memories) != 1:
        raise InputError("this command takes one --memory size")
    return _inputs(args, firmware, memories[0], _acpi(args))


def _memories(args: argparse.Namespace) -> list[int]:
    if args.memory is None:
        raise InputError("--rtmr needs --memory (the guest RAM size, as given to QEMU -m)")
    return [td_memory_size(part) for part in args.memory.split(",")]


def td_memory_size(text: str) -> int:
    """One ``--memory`` size as QEMU's ``-m`` gives it to the TD, or a UsageError where pvmkit and
    QEMU would read the text differently: a bare number (bytes to :func:`parse_size`, MiB to QEMU)
    or a size QEMU rounds up to a multiple of 8 KiB (QEMU ``system/vl.c`` ``set_memory_options``;
    QEMU 10.0.2 runs ``-m 2097156k`` with 2147491840 bytes)."""
    if text.strip().isdigit():
        raise UsageError(
            f"--memory {text!r}: a bare number is MiB to QEMU -m but bytes to pvmkit: give a unit "
            f"({text.strip()}M, or {text.strip()}B for bytes)"
        )
    size = parse_size(text)
    if size % 8192:
        raise UsageError(
            f"--memory {text!r}: QEMU rounds -m up to a multiple of 8 KiB ({size + 4096} bytes): "
            "give that size"
        )
    return size


_NO_ACPI = (
    "give --vcpus (pvmkit generates QEMU's ACPI tables), --qemu-binary (the QEMU that launches the TD) "
    "or the --acpi-* captures"
)


def _inputs(
    args: argparse.Namespace,
    firmware: bytes,
    memory_size: int,
    acpi: Any,
    acpi_note: str = _NO_ACPI,
    smbios: tuple[bytes | None, str] = (None, ""),
    launch: LaunchBoot | None = None,
) -> Any:
    from pvmkit.vendors.tdx.rtmr import RtmrInputs

    if args.smbios and args.smbios_digest:
        raise InputError("give --smbios or --smbios-digest, not both")
    versions = _versions(args, firmware)
    if not hasattr(args, "disk_boot_events"):  # once for every shape
        args.disk_boot_events = boot_path_events(args, firmware, versions)
        versions = _versions(args, firmware)  # the boot path may name the Linux release (an ESP's kernel)
    disk_boot = args.disk_boot_events
    direct = disk_boot is None
    authority = _authority(args, firmware)
    kernel_given = _check_kernel_inputs(args)
    boot = _boot_inputs(
        args, firmware, versions.ovmf, launch, direct_boot=direct and kernel_given, disk_boot=not direct
    )
    return RtmrInputs(
        firmware=firmware,
        memory_size=memory_size,
        kernel=map_file(args.kernel, "a kernel") if args.kernel and direct else None,
        initrd=map_file(args.initrd, "an initrd") if args.initrd and direct else None,
        cmdline=args.cmdline,
        acpi=acpi,
        smbios=read_file(args.smbios) if args.smbios else smbios[0],
        smbios_digest=parse_digest(args.smbios_digest, 48, "--smbios-digest") if args.smbios_digest else None,
        fw_cfg=boot.fw_cfg,
        boot_variables=boot.boot_variables,
        boot_variables_note=boot.boot_variables_note,
        secure_boot=args.secure_boot,
        authority=authority,
        versions=versions,
        shim=args.shim,
        kernel_authenticode=_digest(args.kernel_authenticode, "--kernel-authenticode"),
        load_options_sha384=_digest(args.load_options_sha384, "--load-options-sha384"),
        initrd_sha384=_digest(args.initrd_sha384, "--initrd-sha384"),
        acpi_note=acpi_note,
        disk_boot=disk_boot,
        **({"smbios_note": smbios[1]} if smbios[1] else {}),
    )


def _boot_inputs(
    args: argparse.Namespace,
    firmware: bytes,
    ovmf: tuple[int, int],
    launch: LaunchBoot | None,
    *,
    direct_boot: bool,
    disk_boot: bool,
) -> Any:
    """The fw_cfg items and boot variables (:func:`~pvmkit.cli.measure_tdx_boot.boot_inputs`), made
    once per launch: they do not depend on the shape (a grid of shapes reuses them)."""
    key = None
    if launch is not None:
        served = tuple(sorted(launch.qemu_fw_cfg.items())) if launch.qemu_fw_cfg is not None else None
        key = (launch.devices, launch.note, served)
    cache = args.__dict__.setdefault("boot_inputs_cache", {})
    if key not in cache:
        cache[key] = boot_inputs(
            args,
            _named_files(args.fw_cfg, "--fw-cfg") if args.fw_cfg else None,
            _named_files(args.boot_var, "--boot-var") if args.boot_var else None,
            launch,
            ovmf=ovmf,
            firmware=firmware,
            direct_boot=direct_boot,
            disk_boot=disk_boot,
        )
    args.boot_sources = cache[key]
    return cache[key]


def _check_kernel_inputs(args: argparse.Namespace) -> bool:
    """Each direct-boot input given once (file or digest), and none without a kernel; whether a kernel
    (file or digest) is given."""
    for file_opt, digest_opt in (
        ("kernel", "kernel_authenticode"),
        ("initrd", "initrd_sha384"),
        ("cmdline", "load_options_sha384"),
    ):
        if getattr(args, file_opt) and getattr(args, digest_opt):
            raise InputError(f"give --{file_opt} or --{digest_opt.replace('_', '-')}, not both")
    kernel_given = bool(args.kernel or args.kernel_authenticode)
    if (args.initrd or args.initrd_sha384) and not kernel_given:
        raise InputError("--initrd needs --kernel")
    if args.load_options_sha384 and not kernel_given:
        raise InputError("--load-options-sha384 needs --kernel or --kernel-authenticode")
    return kernel_given


def _digest(text: str | None, option: str) -> bytes | None:
    return parse_digest(text, 48, option) if text else None


def vcpu_counts(text: str) -> list[int]:
    """``N``, ``A-B`` or a comma list of them (as ``reference-values`` takes ``--vcpus``): the sorted
    vCPU counts, each once."""
    from pvmkit.cli.measure_amd import parse_vcpus

    return sorted({n for item in text.split(",") for n in parse_vcpus(item)})


def rtmr_shapes_from_args(
    args: argparse.Namespace, firmware: bytes
) -> tuple[list[tuple[int | None, Any]], Any]:
    """``([(vcpus or None, RtmrInputs), ...], qemu description or None)``: one entry per vCPU count ×
    memory size. With ``--qemu-binary`` each shape's ACPI blobs come from that QEMU
    (:mod:`pvmkit.vendors.tdx.qemu_acpi`)."""
    memories = _memories(args)
    counts: list[int | None] = list(vcpu_counts(args.vcpus)) if args.vcpus else [None]
    one_shape = len(counts) == 1 and len(memories) == 1
    if (args.smbios or args.smbios_digest) and not one_shape:
        raise InputError(
            "--smbios/--smbios-digest is one shape's table (it holds the memory size and the vCPUs' "
            "HTT bit): give one --vcpus and one --memory, or --smbios-processor-id for a grid"
        )
    if not args.qemu_binary:
        acpi = _acpi(args)
        if acpi is not None and not one_shape:
            raise InputError(
                "the --acpi-* captures are one shape's tables (the MADT holds the vCPUs, the DSDT the "
                "memory size): give one --vcpus and one --memory, or let pvmkit make them (--vcpus alone)"
            )
        if acpi is None and args.vcpus:
            return _generated_shapes(args, firmware, [n for n in counts if n is not None], memories)
        if args.qemu_args or args.qemu_pic:
            raise InputError("--qemu-args and --qemu-pic describe the launch: give --vcpus or --qemu-binary")
        return _captured_shapes(args, firmware, counts, memories, acpi), None
    return _qemu_binary_shapes(args, firmware, [n for n in counts if n is not None], memories)


def _qemu_binary_shapes(
    args: argparse.Namespace, firmware: bytes, counts: list[int], memories: list[int]
) -> tuple[list[tuple[int | None, Any]], Any]:
    """Each shape's ACPI blobs (and SMBIOS) from the QEMU binary of ``--qemu-binary``."""
    import dataclasses
    import shlex

    from pvmkit.vendors.tdx.qemu_acpi import BOOT_FILES, AcpiShape, QemuAcpiDumper, qemu_machine_options
    from pvmkit.vendors.tdx.rtmr import AcpiBlobs, parse_version

    if args.acpi_loader or args.acpi_rsdp or args.acpi_tables or args.acpi_blob:
        raise InputError("give --qemu-binary or the --acpi-* captures, not both")
    if not args.vcpus:
        raise InputError("--qemu-binary needs --vcpus (QEMU's ACPI tables depend on the vCPU count)")
    try:
        extra = tuple(shlex.split(args.qemu_args))
    except ValueError as e:
        raise InputError(f"--qemu-args: {e}") from None
    smp = _smp_of_args(extra, counts)
    devices = _boot_devices_of_args(extra)
    dumper = QemuAcpiDumper(args.qemu_binary, args.firmware, extra)
    version = dumper.version
    if args.qemu_version is not None:
        wanted = parse_version(args.qemu_version, "QEMU")
        if wanted != version[:2]:
            raise InputError(
                f"QEMU {args.qemu_version} is not modelled by this --qemu-binary (QEMU "
                f"{'.'.join(map(str, version))}): RTMR0's ACPI tables come from the QEMU that launches the TD"
            )
    else:
        args.qemu_version = f"{version[0]}.{version[1]}"
    pic = args.qemu_pic == "on" if args.qemu_pic else version < (9, 0, 0)
    source = _smbios_source(args, firmware, "qemu")
    shapes: list[tuple[int | None, Any]] = []
    machine = ""
    for n in counts:
        for m in memories:
            shape = AcpiShape(vcpus=n, memory_size=m, pic=pic)
            machine = qemu_machine_options(shape)
            files = dumper.dump(shape)
            blobs = AcpiBlobs(files["etc/table-loader"], files["etc/acpi/rsdp"], files["etc/acpi/tables"])
            possible, sockets = _smbios_topology(smp, version, n)
            smbios = _qemu_smbios(
                source, version, possible, m, files.get("etc/smbios/smbios-tables"), sockets
            )
            served = {name: files[name] for name in BOOT_FILES if name in files}
            boot = dataclasses.replace(devices, qemu_fw_cfg=served)
            shapes.append((n, _inputs(args, firmware, m, blobs, "", smbios, boot)))
    described = {
        "version": ".".join(map(str, version)),
        "machine": machine,
        "args": list(extra),
        "smp": smp.given(),
        "boot_devices": None if devices.devices is None else [_boot_device_json(d) for d in devices.devices],
    }
    return shapes, described


def _boot_devices_of_args(words: tuple[str, ...]) -> LaunchBoot:
    """The boot devices of a ``--qemu-binary`` launch, as far as pvmkit's reader of QEMU options
    knows them (the binary itself takes any option; an unknown one leaves the devices unknown)."""
    from pvmkit.vendors.tdx.acpi.qemu_args import parse_qemu_args

    try:
        return LaunchBoot(parse_qemu_args(words).boot_devices)
    except InputError as e:
        return LaunchBoot(None, f"the boot devices of --qemu-args are not known: {e}")


def _smbios_topology(smp: Any, version: tuple[int, ...], vcpus: int) -> tuple[int, int]:
    """(possible vCPUs, sockets) of ``-smp vcpus,KEYS``: what QEMU's SMBIOS type 4 follows. A
    topology pvmkit refuses is left to the QEMU binary, which refuses it too."""
    import dataclasses

    if not smp.given():
        return vcpus, 1
    try:
        topology = dataclasses.replace(smp, cpus=vcpus).resolve((version[0], version[1]))
    except InputError:
        return vcpus, 1
    return topology.maxcpus, topology.sockets


def _smp_of_args(words: tuple[str, ...], counts: list[int]) -> Any:
    """The ``-smp`` keys of ``--qemu-args`` (:class:`SmpOptions`, merged as QEMU merges them). QEMU
    merges them into the ``-smp N`` of each shape: a vCPU count there would replace ``--vcpus``'s,
    so it must equal every count."""
    from pvmkit.vendors.tdx.acpi.topology import smp_of_words

    smp = smp_of_words(words, "--qemu-args: -smp")
    if smp.cpus is not None and any(n != smp.cpus for n in counts):
        raise InputError(
            f"--qemu-args: -smp {smp.text()} contradicts --vcpus: give the count with --vcpus and "
            "only the topology keys with -smp"
        )
    return smp


def _generated_shapes(
    args: argparse.Namespace, firmware: bytes, counts: list[int], memories: list[int]
) -> tuple[list[tuple[int | None, Any]], Any]:
    """Each shape's ACPI blobs from pvmkit's own generator (:mod:`pvmkit.vendors.tdx.acpi`) for the
    QEMU version of ``--qemu-version`` and the launch of ``--qemu-args`` (default: dstack's)."""
    import shlex

    from pvmkit.vendors.tdx.acpi.build import acpi_blobs
    from pvmkit.vendors.tdx.acpi.qemu_args import DSTACK_LAUNCH, parse_qemu_args
    from pvmkit.vendors.tdx.acpi.versions import acpi_profile
    from pvmkit.vendors.tdx.qemu_acpi import AcpiShape, qemu_machine_options
    from pvmkit.vendors.tdx.rtmr import DEFAULT_VERSIONS, AcpiBlobs

    version = _full_version(args.qemu_version) if args.qemu_version else DEFAULT_VERSIONS.qemu
    acpi_profile(version)  # an unmodelled version (or stable release) is refused here
    try:
        words = shlex.split(args.qemu_args)
    except ValueError as e:
        raise InputError(f"--qemu-args: {e}") from None
    launch = parse_qemu_args(words) if words else DSTACK_LAUNCH
    _note_assumed_launch(args, version, bool(words))
    pic = args.qemu_pic == "on" if args.qemu_pic else version < (9, 0)
    source = _smbios_source(args, firmware, "generator")
    shapes: list[tuple[int | None, Any]] = []
    topologies = [launch.topology((version[0], version[1]), n).to_json() for n in counts]
    for n in counts:
        for m in memories:
            machine = launch.machine((version[0], version[1]), n, m, pic)
            files = acpi_blobs(machine)
            blobs = AcpiBlobs(files["etc/table-loader"], files["etc/acpi/rsdp"], files["etc/acpi/tables"])
            topology = machine.cpu_topology
            smbios = source.table(version, topology.maxcpus, m, sockets=topology.sockets)
            shapes.append((n, _inputs(args, firmware, m, blobs, "", smbios, LaunchBoot(launch.boot_devices))))
    described = {
        "version": ".".join(map(str, version)),
        "machine": qemu_machine_options(AcpiShape(vcpus=1, memory_size=1 << 20, pic=pic)),
        "args": words,
        "launch": "qemu-args" if words else "dstack",
        "devices": [
            {
                "addr": f"{d.slot:02x}.{d.function}",
                "model": d.model,
                "root_port": None if d.root_port is None else f"{d.root_port:02x}",
            }
            for d in launch.devices
        ],
        "boot_devices": [_boot_device_json(d) for d in launch.boot_devices],
        "serial": launch.serial,
        "pci_hotplug_bridge_support": launch.pci_hotplug_bridge_support,
        "pci_hole64_size": launch.pci_hole64_size,
        "smp": launch.smp.given(),
        "topologies": topologies,
    }
    return shapes, described


def _note_assumed_launch(args: argparse.Namespace, version: tuple[int, ...], launch_given: bool) -> None:
    """RTMR0 from the generator depends on the QEMU version and the launch's devices: where the user
    did not name them, the note (``args.assumed_launch``, printed after the result) says which ones
    the prediction assumed (the JSON's ``qemu`` has them)."""
    assumed = []
    if not launch_given:
        assumed.append("dstack's launch (no --qemu-args)")
    if not args.qemu_version:
        assumed.append(f"QEMU {'.'.join(map(str, version))} (no --qemu-version)")
    if assumed:
        args.assumed_launch = f"RTMR0 assumes {' on '.join(assumed)}: give yours if they differ"


def _boot_device_json(device: Any) -> dict[str, object]:
    """One ``qemu.boot_devices`` entry (docs/cli.md)."""
    return {
        "addr": f"{device.slot:02x}.{device.function}",
        "model": device.model,
        "root_port": None if device.root_port is None else f"{device.root_port:02x}",
        "bootindex": device.bootindex,
        "mac": None if device.mac is None else device.mac.hex(":"),
        "option_rom": device.option_rom,
    }


def _captured_shapes(
    args: argparse.Namespace, firmware: bytes, counts: list[int | None], memories: list[int], acpi: Any
) -> list[tuple[int | None, Any]]:
    """Shapes with captured ACPI blobs (or none); SMBIOS from the generator where its inputs are given."""
    version = _full_version(args.qemu_version) if args.qemu_version else _versions(args).qemu
    source = _smbios_source(args, firmware, "generator")
    return [
        (n, _inputs(args, firmware, m, acpi, smbios=source.table(version, n, m)))
        for n in counts
        for m in memories
    ]


def _smbios_source(args: argparse.Namespace, firmware: bytes, origin: str) -> SmbiosSource:
    """The SMBIOS maker of this run, kept for the JSON document."""
    source = SmbiosSource(args, firmware, _versions(args, firmware).ovmf, origin)
    args.smbios_source = source
    return source


def _qemu_smbios(
    source: SmbiosSource,
    version: tuple[int, ...],
    vcpus: int,
    memory_size: int,
    tables: bytes | None,
    sockets: int = 1,
) -> tuple[bytes | None, str]:
    """The measured table from a QEMU binary's SMBIOS (None with the reason where it served none)."""
    if tables is None:
        return None, source.note or "the QEMU binary served no etc/smbios/smbios-tables"
    return source.table(version, vcpus, memory_size, tables, sockets)


def _full_version(text: str) -> tuple[int, ...]:
    """``--qemu-version`` as (major, minor) or (major, minor, micro); the stable release matters to
    the ACPI generator (:func:`pvmkit.vendors.tdx.acpi.versions.acpi_profile`)."""
    import re

    major, minor = _parse_version(text, "QEMU")
    micro = re.match(r"\s*\d+\.\d+\.(\d+)", text)
    return (major, minor, int(micro.group(1))) if micro else (major, minor)


def _acpi(args: argparse.Namespace) -> Any:
    """The ACPI blobs captured from the VMM (all three, or none)."""
    from pvmkit.vendors.tdx.rtmr import AcpiBlobs

    acpi_files = (args.acpi_loader, args.acpi_rsdp, args.acpi_tables)
    if not any(acpi_files):
        if args.acpi_blob:
            raise InputError("--acpi-blob needs --acpi-loader, --acpi-rsdp and --acpi-tables")
        return None
    if not all(acpi_files):
        raise InputError("ACPI needs all three of --acpi-loader, --acpi-rsdp and --acpi-tables")
    return AcpiBlobs(
        loader=read_file(args.acpi_loader),
        rsdp=read_file(args.acpi_rsdp),
        tables=read_file(args.acpi_tables),
        extra=dict(_named_files(args.acpi_blob, "--acpi-blob")),
    )


def _parse_version(text: str, what: str) -> tuple[int, int]:
    """A version option (``vendors.tdx.rtmr.parse_version``); a text that does not parse is a usage
    error (exit 2)."""
    from pvmkit.vendors.tdx.rtmr import parse_version

    try:
        return parse_version(text, what)
    except InputError as exc:
        raise UsageError(str(exc)) from None


def _versions(args: argparse.Namespace, firmware: bytes | None = None) -> Any:
    """--ovmf-version (else the image's own release, :func:`_image_ovmf`), --qemu-version,
    --linux-version."""
    from pvmkit.vendors.tdx.rtmr import DEFAULT_VERSIONS, HostVersions

    if args.ovmf_version:
        ovmf = _parse_version(args.ovmf_version, "OVMF")
        if firmware is not None:
            _check_given_ovmf(args, firmware, ovmf)
    else:
        ovmf = _image_ovmf(args, firmware) if firmware is not None else DEFAULT_VERSIONS.ovmf
    return HostVersions(
        ovmf=ovmf,
        qemu=_parse_version(args.qemu_version, "QEMU") if args.qemu_version else DEFAULT_VERSIONS.qemu,
        linux=_parse_version(args.linux_version, "Linux") if args.linux_version else _kernel_linux(args),
    )


def _kernel_linux(args: argparse.Namespace) -> tuple[int, int]:
    """Without --linux-version: the release the ``--kernel`` file names in its setup header
    (:func:`~pvmkit.vendors.tdx.linux_boot.kernel_release`), else pvmkit's default (6.9), until the
    boot path names another (a UKI's kernel: ``measure_tdx_uki._files_linux``);
    ``args.linux_version_source`` says which, read once."""
    if not hasattr(args, "linux_version_source"):
        from pvmkit.vendors.tdx.linux_boot import kernel_release
        from pvmkit.vendors.tdx.rtmr import DEFAULT_VERSIONS

        release = kernel_release(map_file(args.kernel, "a kernel")) if args.kernel else None
        args.linux_version_source = "kernel" if release is not None else "default"
        args.kernel_linux = release or DEFAULT_VERSIONS.linux
    linux: tuple[int, int] = args.kernel_linux
    return linux


def _check_given_ovmf(args: argparse.Namespace, firmware: bytes, given: tuple[int, int]) -> None:
    """A --ovmf-version other than the release the image names is not silent: a warning on stderr
    and in the JSON (``args.ovmf_warnings``), once. It is not refused: a distribution's build may
    carry later edk2 changes than its version says, which is what the switch is for."""
    if hasattr(args, "ovmf_warnings"):
        return
    from pvmkit.vendors.tdx.ovmf_release import image_release

    release = image_release(firmware)
    args.ovmf_warnings = []
    if release is not None and release != given:
        warning = (
            f"--ovmf-version {given[0]}.{given[1]:02d} differs from the release the image names "
            f"({release[0]}.{release[1]:02d}, its SMBIOS BIOS version): the prediction follows "
            f"{given[0]}.{given[1]:02d}'s rules, not the image's"
        )
        args.ovmf_warnings.append(warning)
        sys.stderr.write(f"pvmkit: warning: {warning}\n")


def _image_ovmf(args: argparse.Namespace, firmware: bytes) -> tuple[int, int]:
    """The edk2 release the image names (:mod:`pvmkit.vendors.tdx.ovmf_release`), read once; where
    it names none, pvmkit's newest rules with a warning (``args.ovmf_version_source`` says which)."""
    if not hasattr(args, "ovmf_version_source"):
        from pvmkit.vendors.tdx.ovmf_release import image_release
        from pvmkit.vendors.tdx.rtmr import DEFAULT_VERSIONS

        release = image_release(firmware)
        args.ovmf_version_source = "image" if release is not None else "default"
        args.image_ovmf = release or DEFAULT_VERSIONS.ovmf
        if release is None:
            year, month = DEFAULT_VERSIONS.ovmf
            sys.stderr.write(
                "pvmkit: warning: the firmware names no edk2 release in its SMBIOS BIOS version; "
                f"OVMF rules of {year}.{month:02d} assumed: give --ovmf-version\n"
            )
    release_: tuple[int, int] = args.image_ovmf
    return release_


def _authority(args: argparse.Namespace, firmware: bytes) -> tuple[bytes, ...]:
    """The EV_EFI_VARIABLE_AUTHORITY event data of each --sb-authority-cert (looked up in the
    firmware's varstore)."""
    if not args.sb_authority_cert:
        return ()
    from pvmkit.formats.efi_varstore import parse_varstore
    from pvmkit.formats.tdvf import parse_tdvf
    from pvmkit.vendors.tdx.rtmr import db_authority_event_data

    meta = parse_tdvf(firmware)
    if meta.cfv is None:
        raise InputError("the firmware has no varstore (CFV) to look the certificate up in")
    store = parse_varstore(meta.raw_data(firmware, meta.cfv))
    return tuple(
        db_authority_event_data(store, read_file(path, "a certificate", MAX_EVIDENCE))
        for path in args.sb_authority_cert
    )


def _sha256(data: bytes | str | None) -> str | None:
    if data is None:
        return None
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _input_digests(inputs: Any) -> dict[str, object]:
    """SHA-256 of each direct-boot input, for the record (docs/cli.md): enough to audit the RTMRs."""
    return {
        "firmware_sha256": _sha256(inputs.firmware),
        "kernel_sha256": _sha256(inputs.kernel),
        "initrd_sha256": _sha256(inputs.initrd),
        "cmdline_sha256": _sha256(inputs.cmdline),
        "secure_boot": inputs.secure_boot,
        "shim": inputs.shim,
    }


def _missing(plan: Any) -> list[dict[str, object]]:
    return [{"rtmr": e.rtmr, "what": e.what, "note": e.note} for e in plan.missing()]


def _acpi_source(qemu: Any, inputs: Any) -> str | None:
    if qemu:
        return "generator" if "launch" in qemu else "qemu"
    return "captured" if inputs.acpi is not None else None


def _rtmr(args: argparse.Namespace, firmware: bytes) -> int:
    from pvmkit.vendors.tdx.rtmr import build_event_log_plan

    shapes, qemu = rtmr_shapes_from_args(args, firmware)
    plans = [(n, inputs, build_event_log_plan(inputs)) for n, inputs in shapes]
    _n, first, first_plan = plans[0]
    if args.event_log_out:
        if len(plans) != 1:
            raise InputError("--event-log-out writes one shape's log: give one --vcpus and one --memory")
        atomic_write(args.event_log_out, first_plan.to_log_bytes())
    if args.json:
        out: dict[str, object] = {
            "schema": "pvmkit.measure-tdx-rtmr/2",
            "vendor": "tdx",
            "versions": first.versions.as_dict(),
            "ovmf_version_source": getattr(args, "ovmf_version_source", "given"),
            "linux_version_source": getattr(args, "linux_version_source", "given"),
            **_input_digests(first),
            "acpi_source": _acpi_source(qemu, first),
            "fw_cfg": args.boot_sources.fw_cfg_source,
            "boot_variables": args.boot_sources.boot_variables_source,
            "qemu": qemu,
            "smbios": args.smbios_source.describe(),
            "warnings": [*getattr(args, "ovmf_warnings", ()), *first_plan.warnings],
            "shapes": [
                {
                    "vcpus": n,
                    "memory": inputs.memory_size,
                    **{f"rtmr{i}": None if r is None else r.hex() for i, r in enumerate(plan.rtmrs())},
                    "smbios_sha384": table_sha384(inputs.smbios),
                    "missing": _missing(plan),
                }
                for n, inputs, plan in plans
            ],
        }
        if len(plans) == 1:
            out["events"] = [e.as_dict() for e in first_plan.events]
        print_json(out)
    else:
        for n, inputs, plan in plans:
            prefix = "" if len(plans) == 1 else f"vcpus={n} memory={inputs.memory_size} "
            missing = plan.missing()
            for i, r in enumerate(plan.rtmrs()):
                if r is not None:
                    print(f"{prefix}RTMR{i}: {r.hex()}")
                else:
                    what = ", ".join(sorted({e.what for e in missing if e.rtmr == i}))
                    print(f"{prefix}RTMR{i}: unknown (missing: {what})")
    if hasattr(args, "assumed_launch"):
        sys.stderr.write(f"pvmkit: note: {args.assumed_launch}\n")
    for e in first_plan.missing():
        sys.stderr.write(f"pvmkit: note: RTMR{e.rtmr} {e.what}: {e.note}\n")
    for w in first_plan.warnings:
        sys.stderr.write(f"pvmkit: warning: {w}\n")
    return 0


def main(argv: list[str]) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    args.json = output_format(args, "hex", p.error) == "json"
    if args.memory is not None:
        for part in args.memory.split(","):
            td_memory_size(part)  # a usage error before any file is read
    if args.vcpus is not None:
        vcpu_counts(args.vcpus)
    check_smbios_options(args)
    firmware = read_file(args.firmware, "a firmware image", MAX_IMAGE)
    if args.rtmr:
        if args.order is not None or args.td_shim:
            raise InputError("--order and --td-shim apply to MRTD, not to --rtmr")
        return _rtmr(args, firmware)
    rtmr_only = [
        name
        for name in (
            "memory",
            "vcpus",
            "qemu_binary",
            "kernel_authenticode",
            "load_options_sha384",
            "initrd_sha384",
            "kernel",
            "initrd",
            "acpi_loader",
            "acpi_rsdp",
            "acpi_tables",
            "smbios",
            "smbios_processor_id",
            "event_log_out",
            "uki",
            "esp",
        )
        if getattr(args, name)
    ]
    if rtmr_only:
        raise InputError(f"--{rtmr_only[0].replace('_', '-')} is an RTMR input: add --rtmr")
    return _mrtd(args, firmware)
