"""AMD launch digests against published and independently computed vectors (tests/vectors/README.md, "AMD").

* §6.1: the 20 published sev-snp-measure vectors (its tests/test_guest.py) on the 4 KiB OVMF tails
  and the 2 hardware-derived SVSM vectors; kernel/initrd there are empty files.
* §6.2: 59 configurations on the Debian ``OVMF.amdsev.fd`` (independent implementation, matched against
  sev-snp-measure 0.0.13 on all 59), run through ``pvmkit sev-snp-measure`` (same flags as the peer).
* §6.3: SEV-ES legacy/INIT2 vectors only pvmkit's model can produce, through ``pvmkit measure``.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from pvmkit.cli.main import main as cli_main

DEBIAN = "firmware/OVMF.amdsev.fd"
AMDSEV_TAIL = "sev-snp-measure-tests/ovmf_AmdSev_suffix.bin"
OVMFX64_TAIL = "sev-snp-measure-tests/ovmf_OvmfX64_suffix.bin"
SVSM = "sev-snp-measure-tests/svsm.bin"
SVSM_OVMF = "sev-snp-measure-tests/svsm_ovmf.fd"

KERNEL = bytes((i * 7 + 3) & 0xFF for i in range(65536))
INITRD = b"pvmkit-initrd\n" * 1000
APPEND = "console=ttyS0 root=/dev/vda rw"


def run(argv: list[str]) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(argv)
    assert code == 0, argv
    return out.getvalue().strip()


@pytest.fixture
def inputs(tmp_path: Path) -> dict[str, str]:
    files = {"kernel.bin": KERNEL, "initrd.bin": INITRD, "empty": b""}
    paths = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths[name] = str(tmp_path / name)
    return paths


# (mode, config, peer arguments besides --mode/--ovmf, expected digest): spec amd.md §6.2
DEBIAN_VECTORS = [
    ("sev", "kernel=none", [], "3e4fd0b3fe3b2dbe481c3d9e99418a034174f26cbe1f55aa212b0f18c12d2d6f"),
    (
        "sev",
        "kernel=K",
        ["--kernel", "kernel.bin"],
        "07a4b2442fc9df1ee78fcc8c8231128ca617d20c4d2c7791084e605efb0022b1",
    ),
    (
        "sev",
        "kernel=K+I",
        ["--kernel", "kernel.bin", "--initrd", "initrd.bin"],
        "1ff957f16b58d7a4ea6c6eaa4fc6dc9cc93cd94d6191cd1a52a6dc3d375a966f",
    ),
    (
        "sev",
        "kernel=K+I+A",
        ["--kernel", "kernel.bin", "--initrd", "initrd.bin", "--append", "console=ttyS0 root=/dev/vda rw"],
        "e1cbd8b008a3aab69775f363c3f576d89c56c3e69a90a26628ea11f01aedd5be",
    ),
    (
        "sev",
        "kernel=K+A",
        ["--kernel", "kernel.bin", "--append", "console=ttyS0 root=/dev/vda rw"],
        "1a07fd920b8256a4f11d82f2be136bd24afbca5212fa620115268204fae6c1c1",
    ),
    (
        "seves",
        "vcpus=1 EPYC-v4 QEMU",
        ["--vcpus", "1", "--vcpu-type", "EPYC-v4"],
        "62f563dcde1a3fcde3e5ffd1a3ee7ff7e9bae00f74bada763587a311e2df5d7e",
    ),
    (
        "seves",
        "vcpus=2 EPYC-v4 QEMU",
        ["--vcpus", "2", "--vcpu-type", "EPYC-v4"],
        "9851d5fecb322196a2fea09a2a3667bab221add8e8b69ab3d2637e813fa2e1b7",
    ),
    (
        "seves",
        "vcpus=4 EPYC-v4 QEMU",
        ["--vcpus", "4", "--vcpu-type", "EPYC-v4"],
        "a3785f5a0490fd91a5b0369b8b4bb7dc0b15ccfa4a8c80ebe8cad03e621729ec",
    ),
    (
        "seves",
        "vcpus=16 EPYC-v4 QEMU",
        ["--vcpus", "16", "--vcpu-type", "EPYC-v4"],
        "6f1fcedead6a1abbedb49086b0145319676a19b45a13fadd07067a90df10276b",
    ),
    (
        "seves",
        "vcpus=64 EPYC-v4 QEMU",
        ["--vcpus", "64", "--vcpu-type", "EPYC-v4"],
        "457405eb5a835d0465d4171c5cfa2c9363c2db3def65920221ca236d7c2d6811",
    ),
    (
        "seves",
        "vcpus=4 EPYC-Rome QEMU",
        ["--vcpus", "4", "--vcpu-type", "EPYC-Rome"],
        "2cf0c8d15a30a49992b036c2063e5845a890e0ba93996b14e35829bc5049a300",
    ),
    (
        "seves",
        "vcpus=4 EPYC-Milan QEMU",
        ["--vcpus", "4", "--vcpu-type", "EPYC-Milan"],
        "aca61f83d5a1973ebbcabb6346dff90e5c4a8bd5563832479e7d6efbf28df430",
    ),
    (
        "seves",
        "vcpus=4 EPYC-Genoa QEMU",
        ["--vcpus", "4", "--vcpu-type", "EPYC-Genoa"],
        "4004e687a74dbb741df6081c3330f530462b60e6b28dd8cb84321d1432cca075",
    ),
    (
        "seves",
        "vcpus=4 EPYC-Turin QEMU",
        ["--vcpus", "4", "--vcpu-type", "EPYC-Turin"],
        "ca628c15a837acf331fa56ad6702890995aafbd22c9596c5c5ec845239c6362b",
    ),
    (
        "seves",
        "vcpus=1 vmm=ec2",
        ["--vcpus", "1", "--vmm-type", "ec2"],
        "a0dff408545ed8bfd1a8450c6508ac431a2089eaafce2f341c4af901fc6c8e66",
    ),
    (
        "seves",
        "vcpus=4 vmm=ec2",
        ["--vcpus", "4", "--vmm-type", "ec2"],
        "aab89700f48730980dfea501d6b5706fbfb7293f4ea68b7f15f54e6e41e917c6",
    ),
    (
        "seves",
        "vcpus=1 vmm=gce",
        ["--vcpus", "1", "--vmm-type", "gce"],
        "c9fcfa49e30936da792fb094401fab683449833c6894d33c75e0faff9850a21c",
    ),
    (
        "seves",
        "vcpus=4 vmm=gce",
        ["--vcpus", "4", "--vmm-type", "gce"],
        "b5576dbc1a557ef47fb5a67f61268beb0fb877dbb868f9ac03f76bdb7509da3a",
    ),
    (
        "seves",
        "vcpus=2 EPYC-Milan kernel=K",
        ["--vcpus", "2", "--vcpu-type", "EPYC-Milan", "--kernel", "kernel.bin"],
        "f3089b31886b67ccb4df61463aca90b85e88f084956b77ac5651e0625e2b417f",
    ),
    (
        "seves",
        "vcpus=2 EPYC-Milan kernel=K+I",
        ["--vcpus", "2", "--vcpu-type", "EPYC-Milan", "--kernel", "kernel.bin", "--initrd", "initrd.bin"],
        "6c9e4ab4f8e37520ba3cc9249ce1c9e35d13ded9f623734022a9e14ea34b9f48",
    ),
    (
        "seves",
        "vcpus=2 EPYC-Milan kernel=K+I+A",
        [
            "--vcpus",
            "2",
            "--vcpu-type",
            "EPYC-Milan",
            "--kernel",
            "kernel.bin",
            "--initrd",
            "initrd.bin",
            "--append",
            "console=ttyS0 root=/dev/vda rw",
        ],
        "b866f136288f1e8d5fcbc6f90da19ccc7e2101a145b759a541c0d12dd6daa109",
    ),
    (
        "seves",
        "vcpus=2 EPYC-Milan kernel=K+A",
        [
            "--vcpus",
            "2",
            "--vcpu-type",
            "EPYC-Milan",
            "--kernel",
            "kernel.bin",
            "--append",
            "console=ttyS0 root=/dev/vda rw",
        ],
        "4b3ab093530c2bdf78d18453b03355099c238b1878aa30e68f2b18689fe0df70",
    ),
    (
        "snp",
        "vcpus=1 EPYC-v4 feat=0x1",
        ["--vcpus", "1", "--vcpu-type", "EPYC-v4", "--guest-features", "0x1"],
        "d74bd3ea40b240c3228edc5177ce6193561ebff633dbd0be76d6c143b876d65102425c0e2e8a930857c48daa5eacda58",
    ),
    (
        "snp",
        "vcpus=2 EPYC-v4 feat=0x1",
        ["--vcpus", "2", "--vcpu-type", "EPYC-v4", "--guest-features", "0x1"],
        "a3c946257b3cef8f1e25dd03cb84f9f01313ae9135c32acc7e01f4204aa447aaa196530d5999be0f114462d2546cd02d",
    ),
    (
        "snp",
        "vcpus=4 EPYC-v4 feat=0x1",
        ["--vcpus", "4", "--vcpu-type", "EPYC-v4", "--guest-features", "0x1"],
        "13a6ae9fbaa31c91ade309c36bd5214729438abac318e01176e02a97b8bec11a4bce86b4d2b1fba2ec0481dd24ff525f",
    ),
    (
        "snp",
        "vcpus=16 EPYC-v4 feat=0x1",
        ["--vcpus", "16", "--vcpu-type", "EPYC-v4", "--guest-features", "0x1"],
        "d92de5853d01ce931f7ea1f06f5e50e165b74b3211902f9c30a4012224dc8d6eb950ca45bd3e5aeb94dcf9dfad43da10",
    ),
    (
        "snp",
        "vcpus=64 EPYC-v4 feat=0x1",
        ["--vcpus", "64", "--vcpu-type", "EPYC-v4", "--guest-features", "0x1"],
        "c8988bfa29626e72129dd39d65a2deb380513881d5cb98f3b2dc1a6d02c8ebd6017056ff0943743a66a1221bea8f229e",
    ),
    (
        "snp",
        "vcpus=1 EPYC-v4 feat=0x21",
        ["--vcpus", "1", "--vcpu-type", "EPYC-v4", "--guest-features", "0x21"],
        "5fafce19a1da9324827756044f6a922becd7fb7a5f80f1cd803366eeb7add5a129d0ca53b184313c9f9036e869371a88",
    ),
    (
        "snp",
        "vcpus=2 EPYC-v4 feat=0x21",
        ["--vcpus", "2", "--vcpu-type", "EPYC-v4", "--guest-features", "0x21"],
        "9b695c4a0d1b9d5e4387e9b51fea513fe44ff3a4a17da3c44f101d92501761722bf2c8eab08f065e12035245e2718b5d",
    ),
    (
        "snp",
        "vcpus=4 EPYC-v4 feat=0x21",
        ["--vcpus", "4", "--vcpu-type", "EPYC-v4", "--guest-features", "0x21"],
        "a0edd3ca630eae842e556b4dd9e098621c361570051bc5b9c4181cefb6ab504a1b837f4229149af5a7727d6d2799f765",
    ),
    (
        "snp",
        "vcpus=16 EPYC-v4 feat=0x21",
        ["--vcpus", "16", "--vcpu-type", "EPYC-v4", "--guest-features", "0x21"],
        "9ac608a0e5b245bbcebf86f8a2c4253cffdd81472b755dfa88ca8037931b84e01d22701b35453f64c44d03e1a311bb87",
    ),
    (
        "snp",
        "vcpus=64 EPYC-v4 feat=0x21",
        ["--vcpus", "64", "--vcpu-type", "EPYC-v4", "--guest-features", "0x21"],
        "09ae317da4bd10979f81dd2400c1aa08b83918ebb317371e74d18ddf65756e77b9f1532c7e0df822536c28a4f9fdf294",
    ),
    (
        "snp",
        "vcpus=4 EPYC-Rome feat=0x1(default)",
        ["--vcpus", "4", "--vcpu-type", "EPYC-Rome"],
        "0746a0da8e4c8b739f76ffc53f1ff50b30298c533b455e58871fb3e35a8169e7f86a1abe421915e8cc057e760ba471ff",
    ),
    (
        "snp",
        "vcpus=4 EPYC-Milan feat=0x1(default)",
        ["--vcpus", "4", "--vcpu-type", "EPYC-Milan"],
        "c995d6122aacbc0434128f0c63783f03b7caec3f8f4292948522a00c0395ff126f1633d8346a20aa85f8dd3bd8739a38",
    ),
    (
        "snp",
        "vcpus=4 EPYC-Genoa feat=0x1(default)",
        ["--vcpus", "4", "--vcpu-type", "EPYC-Genoa"],
        "d505c9acd20a52ed0afd3e763d3b7b1bdd695d54d588a3e9d7957b803b457602332d5911781485b552cbbed90a20f235",
    ),
    (
        "snp",
        "vcpus=4 EPYC-Turin feat=0x1(default)",
        ["--vcpus", "4", "--vcpu-type", "EPYC-Turin"],
        "d91d3c8cc27707d25027b79f6f93c15a86d4c41d0d04ea2ea51eb25eb6118f8f1cb731fc82f220fed80cdb22559270ac",
    ),
    (
        "snp",
        "vcpus=2 EPYC-Genoa feat=0x0",
        ["--vcpus", "2", "--vcpu-type", "EPYC-Genoa", "--guest-features", "0x0"],
        "cf0d5a6c7564c5fdf08a954cffb560b7b0d9aaa034077b91442ccd154b9017eb9bdb3508cd825ec5b9a6de88f4cf0509",
    ),
    (
        "snp",
        "vcpus=2 EPYC-Genoa feat=0x201",
        ["--vcpus", "2", "--vcpu-type", "EPYC-Genoa", "--guest-features", "0x201"],
        "bf3c575aec8a1a12b4e95d3318e280a5c6a393fdfb638f221804ad8c518450c0f841f41e62ed8b09af052d73cc8036cb",
    ),
    (
        "snp",
        "vcpus=2 EPYC-Genoa feat=0x221",
        ["--vcpus", "2", "--vcpu-type", "EPYC-Genoa", "--guest-features", "0x221"],
        "fd3c93e54357daabd8698ecc8a3cea660b07a4a906d84fbaf44208d7cdade3ed16e9af7955b92dc96f317540785cc6e5",
    ),
    (
        "snp",
        "vcpus=1 vmm=ec2 feat=0x1",
        ["--vcpus", "1", "--vmm-type", "ec2", "--guest-features", "0x1"],
        "d32daa514f1f9f2380e00592ecaebac0f426148ba867b919b70737bbb4a406f6e508b30a083d10dad444b4b4648f4dd2",
    ),
    (
        "snp",
        "vcpus=1 vmm=ec2 feat=0x21",
        ["--vcpus", "1", "--vmm-type", "ec2", "--guest-features", "0x21"],
        "7dfb757116da4d94fcd92527a4e122382cdafb8c3f34798bbdbe9c843d24357cf17906fb18818ed4245e81e499c334f5",
    ),
    (
        "snp",
        "vcpus=4 vmm=ec2 feat=0x1",
        ["--vcpus", "4", "--vmm-type", "ec2", "--guest-features", "0x1"],
        "ef749be5d91ef69e32ba3aa64147faee140fbf0d2491dc68d514d785c601ac9031797cab53bff3fcd29421d6797adfc5",
    ),
    (
        "snp",
        "vcpus=4 vmm=ec2 feat=0x21",
        ["--vcpus", "4", "--vmm-type", "ec2", "--guest-features", "0x21"],
        "6cfcd14cde950994b3d9f3bd76860007d00e8e004e083c7f0f91a2d125e666cd3f58fd80da816281b69f6f99388246b8",
    ),
    (
        "snp",
        "vcpus=1 vmm=gce feat=0x1",
        ["--vcpus", "1", "--vmm-type", "gce", "--guest-features", "0x1"],
        "892954bc3aaf8680d84e6150978bf5c30e57b4fcf4ba5705a9b02942b3e8301841b933eca82abe82546b103ecd469506",
    ),
    (
        "snp",
        "vcpus=1 vmm=gce feat=0x21",
        ["--vcpus", "1", "--vmm-type", "gce", "--guest-features", "0x21"],
        "da9c015b8a0606fda0c789b96d2b94ef03a3ea0259ff7742becac5353c34c0b852abc53d30b305b09163aacf8d8681ad",
    ),
    (
        "snp",
        "vcpus=4 vmm=gce feat=0x1",
        ["--vcpus", "4", "--vmm-type", "gce", "--guest-features", "0x1"],
        "0c82739b322f995ee85a729377e469887a4630d2bc1aa9de3c5afe6280f408c4d3384622b603e14bc84ff2ad99f2ade8",
    ),
    (
        "snp",
        "vcpus=4 vmm=gce feat=0x21",
        ["--vcpus", "4", "--vmm-type", "gce", "--guest-features", "0x21"],
        "563e6c136891a03244336308a0d0d4ad8ec986805d896b6220af5fd3e2ce6d54e94a7c720924a7f863466e38d3f58bb2",
    ),
    (
        "snp",
        "vcpus=2 EPYC-Milan feat=0x1 kernel=K",
        ["--vcpus", "2", "--vcpu-type", "EPYC-Milan", "--kernel", "kernel.bin"],
        "db4788ea8ba8d43318a5611f5c8b4feb918d2a74a6190fb4c872e194e369517f87c6fae2ccc8011b9a311e88772c1637",
    ),
    (
        "snp",
        "vcpus=2 ec2 feat=0x1 kernel=K",
        ["--vcpus", "2", "--vmm-type", "ec2", "--kernel", "kernel.bin"],
        "dace0707e18eaa6f8a8c87720ea5b88c452a8cbc9367392ecae947f3b37f0ae522dd528b38d7232958c5b326282b1e3f",
    ),
    (
        "snp",
        "vcpus=2 EPYC-Milan feat=0x1 kernel=K+I",
        ["--vcpus", "2", "--vcpu-type", "EPYC-Milan", "--kernel", "kernel.bin", "--initrd", "initrd.bin"],
        "3735b6e8de0744915f47b7b94baa184ded8138bae6f6fe18acdc30f8b4d222ba2836bd28bf132dc6cb6638655d9d4af1",
    ),
    (
        "snp",
        "vcpus=2 ec2 feat=0x1 kernel=K+I",
        ["--vcpus", "2", "--vmm-type", "ec2", "--kernel", "kernel.bin", "--initrd", "initrd.bin"],
        "bec1b277baf9cbbc0cb7f2de6078e6ac907958ef401dbfff8c9de2bf30ce1ed0fb1b923d22bc7ab88a7fd8de0b3909d3",
    ),
    (
        "snp",
        "vcpus=2 EPYC-Milan feat=0x1 kernel=K+I+A",
        [
            "--vcpus",
            "2",
            "--vcpu-type",
            "EPYC-Milan",
            "--kernel",
            "kernel.bin",
            "--initrd",
            "initrd.bin",
            "--append",
            "console=ttyS0 root=/dev/vda rw",
        ],
        "12a47b4ea7a456d32efb57fbec3444ca9ef769eec8fbff4ecc48c4772b20a49e2725a81e3d65413b76fd4b65bebe9a50",
    ),
    (
        "snp",
        "vcpus=2 ec2 feat=0x1 kernel=K+I+A",
        [
            "--vcpus",
            "2",
            "--vmm-type",
            "ec2",
            "--kernel",
            "kernel.bin",
            "--initrd",
            "initrd.bin",
            "--append",
            "console=ttyS0 root=/dev/vda rw",
        ],
        "464b83ffe0b0ffc9fd64ea3157d57bc59b4798b45afec0038b41f343d4d9cbd6106cb81947734db2767ca164c8cd4ca4",
    ),
    (
        "snp",
        "vcpus=2 EPYC-Milan feat=0x1 kernel=K+A",
        [
            "--vcpus",
            "2",
            "--vcpu-type",
            "EPYC-Milan",
            "--kernel",
            "kernel.bin",
            "--append",
            "console=ttyS0 root=/dev/vda rw",
        ],
        "6751778e5cda4d484807db36bc1dd07ee94200f50672d6c9e28a3c64a1305f2531e5cb03bb1d356d22175c5cc9de0fbf",
    ),
    (
        "snp",
        "vcpus=2 ec2 feat=0x1 kernel=K+A",
        [
            "--vcpus",
            "2",
            "--vmm-type",
            "ec2",
            "--kernel",
            "kernel.bin",
            "--append",
            "console=ttyS0 root=/dev/vda rw",
        ],
        "2fc48332afdb415aa1002696c64d8e9ecb71fd9d16f1a9ce4f2eee704153bff766384effe38829f52dbf7a278879cf75",
    ),
    (
        "snp:ovmf-hash",
        "ovmf-hash",
        [],
        "9d0dd8be18c86e3fe3bf0038ed75ebf5340bee69fd2632c8ff9409964575960ae1f7e84be387d2e3467bc3508d1e4806",
    ),
    (
        "snp",
        "vcpus=4 EPYC-v4 seeded K+I+A",
        [
            "--vcpus",
            "4",
            "--vcpu-type",
            "EPYC-v4",
            "--snp-ovmf-hash",
            "9d0dd8be18c86e3fe3bf0038ed75ebf5340bee69fd2632c8ff9409964575960ae1f7e84be387d2e3467bc3508d1e4806",
            "--kernel",
            "kernel.bin",
            "--initrd",
            "initrd.bin",
            "--append",
            "console=ttyS0 root=/dev/vda rw",
        ],
        "0003eb99ec35f311c8d8128fc1bcbad24231f049905d2c2fe2e1ab0665094aff508f660f9c0c740cb637acbdc48e4565",
    ),
    (
        "snp",
        "vcpus=4 --vcpu-sig 0x800f12 (==EPYC-v4)",
        ["--vcpus", "4", "--vcpu-sig", "0x800f12"],
        "13a6ae9fbaa31c91ade309c36bd5214729438abac318e01176e02a97b8bec11a4bce86b4d2b1fba2ec0481dd24ff525f",
    ),
    (
        "snp",
        "vcpus=4 fam/model/step 23/1/2 (==EPYC-v4)",
        ["--vcpus", "4", "--vcpu-family", "23", "--vcpu-model", "1", "--vcpu-stepping", "2"],
        "13a6ae9fbaa31c91ade309c36bd5214729438abac318e01176e02a97b8bec11a4bce86b4d2b1fba2ec0481dd24ff525f",
    ),
]


def test_the_debian_table_has_all_59_rows() -> None:
    assert len(DEBIAN_VECTORS) == 59


@pytest.mark.parametrize(("mode", "config", "args", "expected"), DEBIAN_VECTORS, ids=lambda x: str(x)[:40])
def test_debian_image_vectors(
    mode: str, config: str, args: list[str], expected: str, fixture_file, inputs: dict[str, str]
) -> None:
    argv = ["sev-snp-measure", "--mode", mode, "--ovmf", str(fixture_file(DEBIAN))]
    argv += [inputs.get(a, a) for a in args]
    assert run(argv) == expected, config


# spec amd.md §6.1: (name, mode, fixture, extra args, expected); "E" is an empty file
PUBLISHED = [
    (
        "ovmf hash",
        "snp:ovmf-hash",
        AMDSEV_TAIL,
        [],
        "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74",
    ),
    (
        "seeded 0x21",
        "snp",
        AMDSEV_TAIL,
        [
            "--vcpus",
            "1",
            "--guest-features",
            "0x21",
            "--kernel",
            "E",
            "--initrd",
            "E",
            "--append",
            "",
            "--snp-ovmf-hash",
            "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74",
        ],
        "329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4e1d7fa41179ef98a7ef198",
    ),
    (
        "seeded 0x1",
        "snp",
        AMDSEV_TAIL,
        [
            "--vcpus",
            "1",
            "--guest-features",
            "0x1",
            "--kernel",
            "E",
            "--initrd",
            "E",
            "--append",
            "",
            "--snp-ovmf-hash",
            "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74",
        ],
        "ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5",
    ),
    (
        "snp default",
        "snp",
        AMDSEV_TAIL,
        [
            "--vcpus",
            "1",
            "--guest-features",
            "0x21",
            "--kernel",
            "E",
            "--initrd",
            "E",
            "--append",
            "console=ttyS0 loglevel=7",
        ],
        "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977",
    ),
    (
        "snp 0x1",
        "snp",
        AMDSEV_TAIL,
        [
            "--vcpus",
            "1",
            "--guest-features",
            "0x1",
            "--kernel",
            "E",
            "--initrd",
            "E",
            "--append",
            "console=ttyS0 loglevel=7",
        ],
        "6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a92046c042e706363b4b08fa",
    ),
    (
        "ec2 0x21",
        "snp",
        AMDSEV_TAIL,
        [
            "--vcpus",
            "1",
            "--guest-features",
            "0x21",
            "--kernel",
            "E",
            "--initrd",
            "E",
            "--append",
            "",
            "--vmm-type",
            "ec2",
        ],
        "0ce9ccc06bab55eebe8abc234f3df6514883977a68a591b71052498ab52b2f1aa415db338033946ef93aa8278c0d67fb",
    ),
    (
        "ec2 0x1",
        "snp",
        AMDSEV_TAIL,
        [
            "--vcpus",
            "1",
            "--guest-features",
            "0x1",
            "--kernel",
            "E",
            "--initrd",
            "E",
            "--append",
            "",
            "--vmm-type",
            "ec2",
        ],
        "0883bd0eeb716e65b7b977a321c278d1e51b33b5c655fab985443bbcc65c086b9c15e8a0bd8811050dec7e24964e5056",
    ),
    (
        "gce 1",
        "snp",
        AMDSEV_TAIL,
        [
            "--vcpus",
            "1",
            "--guest-features",
            "0x1",
            "--kernel",
            "E",
            "--initrd",
            "E",
            "--append",
            "",
            "--vmm-type",
            "gce",
        ],
        "5da7106cf14cf46b1725ebab123eb9e53bd46a1e9f400cd0c08e7827b04b688ea8b4e403c8404efed4397ea5d5d0722e",
    ),
    (
        "gce 4",
        "snp",
        AMDSEV_TAIL,
        [
            "--vcpus",
            "4",
            "--guest-features",
            "0x1",
            "--kernel",
            "E",
            "--initrd",
            "E",
            "--append",
            "",
            "--vmm-type",
            "gce",
        ],
        "5c5debf100fc339f90276e761ee1f1658d08922c3b20e2a2e6c7a6c3370b2452a15a00eae11886a93d6fd1e7ab81e29d",
    ),
    (
        "no kernel 0x21",
        "snp",
        AMDSEV_TAIL,
        ["--vcpus", "1", "--guest-features", "0x21"],
        "e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b",
    ),
    (
        "no kernel 0x1",
        "snp",
        AMDSEV_TAIL,
        ["--vcpus", "1", "--guest-features", "0x1"],
        "19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d",
    ),
    (
        "4 vcpu 0x21",
        "snp",
        AMDSEV_TAIL,
        ["--vcpus", "4", "--guest-features", "0x21", "--kernel", "E", "--initrd", "E", "--append", ""],
        "4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942",
    ),
    (
        "4 vcpu 0x1",
        "snp",
        AMDSEV_TAIL,
        ["--vcpus", "4", "--guest-features", "0x1", "--kernel", "E", "--initrd", "E", "--append", ""],
        "5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5",
    ),
    (
        "OvmfX64 0x21",
        "snp",
        OVMFX64_TAIL,
        ["--vcpus", "1", "--guest-features", "0x21"],
        "28797ae0afaba4005a81e629acebfb59e6687949d6be44007cd5506823b0dd66f146aaae26ff291eed7b493d8a64c385",
    ),
    (
        "OvmfX64 0x1",
        "snp",
        OVMFX64_TAIL,
        ["--vcpus", "1", "--guest-features", "0x1"],
        "da0296de8193586a5512078dcd719eccecbd87e2b825ad4148c44f665dc87df21e5b49e21523a9ad993afdb6a30b4005",
    ),
    (
        "seves 1",
        "seves",
        AMDSEV_TAIL,
        ["--vcpus", "1", "--kernel", "E", "--initrd", "E", "--append", ""],
        "13810ae661ea11e2bb205621f582fee268f0367c8f97bc297b7fadef3e12002c",
    ),
    (
        "seves 4",
        "seves",
        AMDSEV_TAIL,
        ["--vcpus", "4", "--kernel", "E", "--initrd", "E", "--append", ""],
        "0dccbcaba8e90b261bd0d2e1863a2f9da714768b7b2a19363cd6ae35aa90de91",
    ),
    (
        "sev append",
        "sev",
        AMDSEV_TAIL,
        ["--kernel", "E", "--initrd", "E", "--append", "console=ttyS0 loglevel=7"],
        "82a3ee5d537c3620628270c292ae30cb40c3c878666a7890ee7ef2a08fb535ff",
    ),
    (
        "sev kernel only",
        "sev",
        AMDSEV_TAIL,
        ["--kernel", "E"],
        "77f613d7bbcdf12a73782ea9e88b0172aeda50d1a54201cb903594ff52846898",
    ),
    (
        "sev OvmfX64",
        "sev",
        OVMFX64_TAIL,
        [],
        "b4c021e085fb83ceffe6571a3d357b4a98773c83c474e47f76c876708fe316da",
    ),
]

# hardware-derived (peer fixtures README): Coconut SVSM, 540672-byte VARS
SVSM_VECTORS = [
    (4, "27d154c27b7b359c935e250ec6fee72aa0ae8c1225e3b0e1cf46a9567e938066d7d6f94bbdc4a857818bdb79277a44b2"),
    (2, "9b94745036aafddf4f7f8b00c7513abb5b7703178cb95aaa57928bd963d68d3bfcb715d6019b9167ee2517b11b0d9be7"),
]


def test_all_20_published_vectors_are_listed() -> None:
    assert len(PUBLISHED) == 20


@pytest.mark.parametrize(
    ("name", "mode", "fixture", "args", "expected"), PUBLISHED, ids=[p[0] for p in PUBLISHED]
)
def test_published_sev_snp_measure_vectors(
    name: str, mode: str, fixture: str, args: list[str], expected: str, fixture_file, inputs: dict[str, str]
) -> None:
    argv = ["sev-snp-measure", "--mode", mode, "--ovmf", str(fixture_file(fixture))]
    argv += ["--vcpu-type", "EPYC-v4"] if mode in ("snp", "seves") else []
    argv += [inputs["empty"] if a == "E" else a for a in args]
    assert run(argv) == expected


@pytest.mark.parametrize(("vcpus", "expected"), SVSM_VECTORS)
def test_hardware_derived_svsm_vectors(vcpus: int, expected: str, fixture_file) -> None:
    argv = [
        "sev-snp-measure",
        "--mode",
        "snp:svsm",
        "--ovmf",
        str(fixture_file(SVSM_OVMF)),
        "--svsm",
        str(fixture_file(SVSM)),
        "--vars-size",
        "540672",
        "--vcpus",
        str(vcpus),
        "--vcpu-type",
        "EPYC-v4",
    ]
    assert run(argv) == expected


@pytest.mark.parametrize(("vcpus", "expected"), SVSM_VECTORS)
def test_svsm_vectors_through_pvmkit_measure(vcpus: int, expected: str, fixture_file) -> None:
    argv = [
        "measure",
        "--vendor",
        "snp",
        "--ovmf",
        str(fixture_file(SVSM_OVMF)),
        "--svsm",
        str(fixture_file(SVSM)),
        "--vars-size",
        "540672",
        "--vcpus",
        str(vcpus),
        "--vcpu-type",
        "EPYC-v4",
    ]
    assert run(argv) == expected


# spec amd.md §6.3 (SEV-ES on the Debian image, EPYC-v4, QEMU profile)
SEV_ES_MODEL = [
    ("legacy", "0", 1, "9ce7535be9fd1f8075d237b16d3a1ec50665c53d3a4ff11c0cd3ba6303e7707e"),
    ("legacy", "0", 4, "3d3efa3ee914d8893455f71e41499adfa2f82569d74a05fdeb56b2206711e5b2"),
    ("legacy", "0x20", 1, "e801813d4584ec20583c657db8ab59940f6cff8b2d92d845b997eeff1c318501"),
    ("legacy", "0x20", 4, "2cd49c17d8751c90ad7ea0b989c429ea7a4424109739921020328e35118350cc"),
    ("init2", "0x20", 1, "74d8d2355dd1ebfb1e3ad0fe5a8909f0b7d9fc12149d73e2a85a5c078c9efa72"),
    ("init2", "0x20", 4, "ca72469c17d1756a041462e8eba509d0f085e5f338975ddc7a3be860559f3405"),
    # INIT2 without features == the peer's seves (§6.2 rows)
    ("init2", "0", 1, "62f563dcde1a3fcde3e5ffd1a3ee7ff7e9bae00f74bada763587a311e2df5d7e"),
    ("init2", "0", 4, "a3785f5a0490fd91a5b0369b8b4bb7dc0b15ccfa4a8c80ebe8cad03e621729ec"),
]


@pytest.mark.parametrize(("init_path", "features", "vcpus", "expected"), SEV_ES_MODEL)
def test_sev_es_init_path_and_feature_vectors(
    init_path: str, features: str, vcpus: int, expected: str, fixture_file
) -> None:
    argv = [
        "measure",
        "--vendor",
        "sev-es",
        "--ovmf",
        str(fixture_file(DEBIAN)),
        "--vcpus",
        str(vcpus),
        "--vcpu-type",
        "EPYC-v4",
        "--init-path",
        init_path,
        "--vmsa-features",
        features,
    ]
    assert run(argv) == expected


def test_sev_es_default_is_the_qemu_9_1_legacy_path(fixture_file) -> None:
    argv = ["measure", "--vendor", "sev-es", "--ovmf", str(fixture_file(DEBIAN)), "--vcpu-type", "EPYC-v4"]
    assert run(argv) == SEV_ES_MODEL[0][3]
    # requesting DebugSwap picks INIT2, as QEMU does for an INIT2-only option
    assert run([*argv, "--vmsa-features", "DEBUG_SWAP"]) == SEV_ES_MODEL[4][3]
