"""A signal never lands inside library code that runs Python and breaks when interrupted there (Numba compiling or
loading a kernel, h5py's visit callbacks): the command's one KeyboardInterrupt comes when that code is done."""

from __future__ import annotations

import os
import signal

import h5py
import numpy as np
import pytest

from sparana_cli.engine import kernels_cpu
from sparana_cli.hdf5_links import visit_items
from sparana_cli.signals import interrupting, start_command, uninterrupted


def _signal_self_and_spin() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    for _ in range(10_000):  # Python runs the handler between bytecodes: here, inside the call
        pass


def test_a_signal_inside_an_uninterrupted_call_is_raised_once_it_returns():
    start_command(whole_process=False)
    steps = []

    @uninterrupted
    def work():
        _signal_self_and_spin()
        steps.append("finished")
        return 7

    with interrupting():
        with pytest.raises(KeyboardInterrupt):
            work()
    assert steps == ["finished"]


def test_a_signal_outside_it_still_interrupts_at_once():
    start_command(whole_process=False)
    steps = []
    with interrupting():
        with pytest.raises(KeyboardInterrupt):
            _signal_self_and_spin()
            steps.append("finished")
    assert steps == []


def test_a_signal_in_an_h5py_visit_callback_waits_for_the_visit(tmp_path):
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        for name in "abc":
            f.create_dataset(name, data=np.zeros(2))
    start_command(whole_process=False)
    seen = []

    def visit(name, node):
        if not seen:
            _signal_self_and_spin()
        seen.append(name)

    with h5py.File(path, "r") as f, interrupting():
        with pytest.raises(KeyboardInterrupt):  # not h5py's SystemError, and after every object was visited
            visit_items(f, visit)
    assert seen == ["a", "b", "c"]


def test_every_numba_kernel_is_called_through_uninterrupted():
    import numba

    wrapped = [obj for obj in vars(kernels_cpu).values() if isinstance(getattr(obj, "__wrapped__", None),
                                                                       numba.core.registry.CPUDispatcher)]
    bare = [name for name, obj in vars(kernels_cpu).items() if isinstance(obj, numba.core.registry.CPUDispatcher)]
    assert len(wrapped) == 7 and bare == []
