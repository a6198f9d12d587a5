"""Device and precision selection, on faked machines."""

from __future__ import annotations

import logging

import pytest

from vlm.devices import select_device


def test_cuda_first_with_bf16_where_supported():
    assert select_device(cuda=True, bf16=True, mps=False, system="Linux").precision == "bf16"
    c = select_device(cuda=True, bf16=False, mps=True, system="Darwin", mac_version="15.2")
    assert (c.device, c.precision) == ("cuda", "fp16")


def test_mps_before_cpu_but_not_on_macos_26(caplog):
    assert select_device(cuda=False, mps=True, system="Darwin", mac_version="15.4").device == "mps"
    with caplog.at_level(logging.WARNING):
        c = select_device(cuda=False, mps=True, system="Darwin", mac_version="26.1")
    assert c.device == "cpu" and "MPS skipped on macOS 26.1" in c.note and "MPS skipped" in caplog.text
    assert select_device("mps", cuda=False, mps=True, system="Darwin", mac_version="26.1").device == "mps"


def test_cpu_fallback_and_explicit_choices():
    c = select_device(cuda=False, mps=False, system="Linux", cpu_bf16=False)
    assert (c.device, c.precision) == ("cpu", "fp32")
    assert select_device(cuda=False, mps=False, system="Linux", cpu_bf16=True).precision == "bf16"
    assert select_device("cpu", cuda=True, bf16=True, mps=False, system="Linux").device == "cpu"
    with pytest.raises(ValueError, match="'cuda' was asked for but is not available"):
        select_device("cuda", cuda=False, mps=False, system="Linux")
    with pytest.raises(ValueError, match="has no bf16 instructions"):
        select_device("cpu", "bf16", cuda=False, mps=False, system="Linux", cpu_bf16=False)
    c = select_device("cpu", "bf16", cuda=False, mps=False, system="Linux", cpu_bf16=True)
    assert (c.device, c.precision) == ("cpu", "bf16") and "autocast" in c.note
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        select_device("cpu", "fp16", cuda=False, mps=False, system="Linux")
    with pytest.raises(ValueError, match="unknown device"):
        select_device("tpu", cuda=False, mps=False, system="Linux")
