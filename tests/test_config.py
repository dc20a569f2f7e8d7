"""setup(): seeding, scale, threads, device, version check, and clear errors for bad input."""

import random
import warnings

import numpy as np
import pytest
import torch

import learnopt_course as lo
from learnopt_course import config


def test_setup_seeds_everything_reproducibly(monkeypatch, capsys):
    monkeypatch.delenv("LEARNOPT_SCALE", raising=False)
    threads = torch.get_num_threads()
    try:
        cfg = lo.setup(seed=3, threads=1)
        a = (random.random(), float(np.random.rand()), float(torch.rand(())), float(torch.rand((), generator=cfg.generator)))
        cfg2 = lo.setup(seed=3, threads=1)
        b = (random.random(), float(np.random.rand()), float(torch.rand(())), float(torch.rand((), generator=cfg2.generator)))
    finally:
        torch.set_num_threads(threads)
    assert a == b
    assert cfg.scale == "ci" and cfg.quick and cfg.pick(1, 2) == 1
    assert cfg.device == torch.device("cpu") and cfg.threads == 1
    assert capsys.readouterr().out == ""  # prints nothing machine-dependent (nothing at all)


def test_scale_from_environment_and_rejection(monkeypatch):
    monkeypatch.setenv("LEARNOPT_SCALE", "FULL")
    assert config.resolve_scale() == "full"
    monkeypatch.setenv("LEARNOPT_SCALE", "huge")
    with pytest.raises(ValueError, match="LEARNOPT_SCALE must be one of 'ci', 'full'; got 'huge'"):
        config.resolve_scale()
    with pytest.raises(ValueError, match="scale must be one of 'ci', 'full'; got 'paper'"):
        lo.setup(scale="paper")


def test_threads_and_seed_validation(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert config.resolve_threads() == 2
    monkeypatch.setenv("OMP_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="OMP_NUM_THREADS must be a positive integer; got 'two'"):
        config.resolve_threads()
    with pytest.raises(ValueError, match="threads must be a positive integer; got 0"):
        config.resolve_threads(0)
    with pytest.raises(ValueError, match="seed must be a non-negative integer; got -1"):
        config.seed_everything(-1)


def test_device_resolution(monkeypatch):
    monkeypatch.delenv("LEARNOPT_DEVICE", raising=False)
    assert config.resolve_device().type == "cpu"
    assert config.setup(seed=0, scale="full", plot_style=False).device.type == "cpu"  # full scale is not a device
    with pytest.raises(ValueError, match="device must be a torch device name"):
        config.resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            config.resolve_device("cuda")


def test_version_check():
    config.check_version(None)
    config.check_version("0.1", installed="0.1.3")
    with pytest.raises(RuntimeError, match=r"needs learnopt_course >= 0.2, but 0.1.0 is installed"):
        config.check_version("0.2", installed="0.1.0")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config.check_version("0.1", installed="1.0.0")
    assert any("written for learnopt_course 0.1" in str(w.message) for w in caught)
    with pytest.raises(ValueError, match="requires must be a version string"):
        config.check_version("latest")
    assert lo.__version__ == lo.Config(seed=0, scale="ci", device=torch.device("cpu"), threads=1).version


def test_plot_style_is_colour_blind_safe():
    import matplotlib as mpl

    config.set_plot_style()
    cycle = mpl.rcParams["axes.prop_cycle"].by_key()
    assert cycle["color"][:3] == ["#0072B2", "#D55E00", "#009E73"]
    assert len(set(map(str, cycle["linestyle"]))) == len(cycle["linestyle"])  # styles distinguish lines in grey
