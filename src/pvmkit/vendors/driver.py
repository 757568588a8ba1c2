"""What every backend that runs a plan on /dev/kvm shares: ownership of the KVM system fd, the VM and
its vCPUs, and closing all of them exactly once (the AMD and TDX drivers and the sw machine)."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

from pvmkit.kvm import Kvm, Vcpu, Vm

__all__ = ["VmOwner"]

_T = TypeVar("_T", bound="VmOwner")


class VmOwner:
    """Owns a VM and its vCPUs, and ``/dev/kvm`` when it opened it itself. A context manager;
    :meth:`close` is idempotent. Subclasses release their own extra resources in :meth:`_release`,
    which runs after the VM is closed and before ``/dev/kvm`` is."""

    def __init__(self, kvm: Kvm | None) -> None:
        self._own_kvm = kvm is None
        self._kvm: Kvm | None = kvm
        self._vm: Vm | None = None
        self._vcpus: list[Vcpu] = []

    def _open_kvm(self) -> Kvm:
        """The KVM system fd, opened on first use when none was given."""
        if self._kvm is None:
            self._kvm = Kvm.open()
        return self._kvm

    def _release(self) -> None:
        """Hook for subclass resources (memory bookkeeping, other device fds)."""

    def close(self) -> None:
        vm, self._vm = self._vm, None
        self._vcpus.clear()
        if vm is not None:
            vm.close()
        self._release()
        kvm, self._kvm = self._kvm, None
        if kvm is not None and self._own_kvm:
            kvm.close()

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
