# pvmkit's bundled attestation guest for the software-protected VM (vendor "sw"), docs/sw-vm.md.
#
# Boot protocol (set by the VMSA in the launch plan, pvmkit.vendors.sw.builder):
#   32-bit flat protected mode, paging off, interrupts off (RFLAGS = 0x2), EIP = entry (offset 0),
#   ESI = GPA of the 4 KiB shared page, ESP = top of the stack page.
# Shared page (host-writable, not measured; pvmkit.vendors.sw.protocol):
#   0x000  request: REPORT_DATA[64], VMPL u32, reserved[28]      (SNP MSG_REPORT_REQ layout)
#   0x800  response: STATUS u32, REPORT_SIZE u32, reserved[24], REPORT[1184] (SNP MSG_REPORT_RSP)
#   0xF00  NONCE[32], written by the host before launch
# The guest sets REPORT_DATA = NONCE || TAG (TAG: 32 bytes below), writes the page's GPA to the
# attestation port with a 32-bit OUT, then prints "measurement=<96 hex digits>\n" (the report's
# MEASUREMENT) on the serial port and halts. It is position independent: load it anywhere.
#
# Rebuild: python tools/build_guest.py (as --32, ld -m elf_i386, objcopy -O binary); the test
# tests/unit/test_guest_build.py checks that attest.bin is exactly these bytes.

        .code32
        .set SERIAL, 0x3f8
        .set ATTEST_PORT, 0xa77
        .set REQ_REPORT_DATA, 0x000
        .set REQ_VMPL, 0x040
        .set RSP, 0x800
        .set RSP_REPORT, 0x820
        .set REPORT_MEASUREMENT, 0x090
        .set NONCE, 0xf00

        .text
        .globl _start
_start:
        cld
        call    0f                      # EBP = run-time address of label 0 (position independence)
0:      pop     %ebp
        mov     %esi, %ebx              # EBX = shared page

        lea     NONCE(%ebx), %esi       # REPORT_DATA[0:32] = NONCE
        lea     REQ_REPORT_DATA(%ebx), %edi
        mov     $8, %ecx
        rep movsl
        lea     (tag - 0b)(%ebp), %esi  # REPORT_DATA[32:64] = TAG
        mov     $8, %ecx
        rep movsl
        xor     %eax, %eax              # VMPL = 0, reserved = 0
        mov     $8, %ecx
        rep stosl

        movl    $0xffffffff, RSP(%ebx)  # STATUS = "no answer yet"
        mov     %ebx, %eax
        mov     $ATTEST_PORT, %dx
        outl    %eax, %dx               # ask the host for a report

        mov     $SERIAL, %dx
        cmpl    $0, RSP(%ebx)
        jne     fail

        lea     (msg_ok - 0b)(%ebp), %esi
        call    puts
        lea     (RSP_REPORT + REPORT_MEASUREMENT)(%ebx), %esi
        mov     $48, %ecx
        call    hex
        jmp     done

fail:   lea     (msg_fail - 0b)(%ebp), %esi
        call    puts
        lea     RSP(%ebx), %esi         # STATUS as 4 little-endian bytes
        mov     $4, %ecx
        call    hex

done:   mov     $0x0a, %al
        outb    %al, %dx
1:      cli
        hlt
        jmp     1b

# puts: print the NUL-terminated string at ESI on port DX.
puts:   lodsb
        test    %al, %al
        jz      1f
        outb    %al, %dx
        jmp     puts
1:      ret

# hex: print ECX bytes at ESI as lower-case hex on port DX.
hex:    lodsb
        mov     %al, %ah
        shr     $4, %al
        call    nibble
        mov     %ah, %al
        call    nibble
        loop    hex
        ret

nibble: and     $0x0f, %al
        cmp     $10, %al
        jb      1f
        add     $('a' - '0' - 10), %al
1:      add     $'0', %al
        outb    %al, %dx
        ret

msg_ok:   .asciz "measurement="
msg_fail: .asciz "attestation failed: status="
        .balign 4
tag:    .ascii "pvmkit-sw-attest-guest/v1"
        .fill 32 - (. - tag), 1, 0
