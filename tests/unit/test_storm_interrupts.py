"""A Ctrl-C during a container create is held until the create returns (then raised)."""

import os
import signal

import pytest

from harness.storm.runner import interrupts_held


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_inside_the_block_is_raised_after_it(signum):
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    before = signal.getsignal(signal.SIGINT)  # not always Python's default: a background job has it ignored
    finished = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with interrupts_held():
                os.kill(os.getpid(), signum)  # delivered here, held
                finished.append("create returned")
        assert finished == ["create returned"]
        assert signal.getsignal(signal.SIGINT) is before  # handlers restored
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_no_interrupt_no_exception():
    with interrupts_held():
        pass
