"""gpu target: availability messages and provider choice on any machine; the whole target
on a machine with an NVIDIA GPU (tests marked `gpu`)."""

from __future__ import annotations

import numpy as np
import pytest

from edgenn.core import BadInputError, RunOptions, TargetUnavailableError
from edgenn.targets.gpu import CPU, CUDA, TRT, GpuTarget, Provider, choose_providers, missing_piece

GPU_REASON = GpuTarget().available()


def test_missing_onnxruntime_gpu_is_named_with_the_install_command():
    reason = missing_piece("535.104", False, [CPU], Provider.AUTO)
    assert reason.startswith("onnxruntime-gpu is not installed")
    assert 'pip uninstall -y onnxruntime && pip install "edgenn[gpu]"' in reason


def test_missing_driver_is_named():
    reason = missing_piece(None, True, [CUDA, CPU], Provider.AUTO)
    assert reason.startswith("no NVIDIA driver found")


def test_missing_provider_is_named():
    reason = missing_piece("535", True, [CUDA, CPU], Provider.TENSORRT)
    assert "has no TensorrtExecutionProvider" in reason and "CUDAExecutionProvider" in reason
    assert missing_piece("535", True, [CUDA, CPU], Provider.CUDA) is None
    assert missing_piece("535", True, [TRT, CUDA, CPU], Provider.AUTO) is None


def test_provider_order_and_tensorrt_options(tmp_path):
    chosen = choose_providers([TRT, CUDA, CPU], Provider.AUTO, fp16=True, cache_dir=tmp_path)
    assert [p[0] if isinstance(p, tuple) else p for p in chosen] == [TRT, CUDA, CPU]
    trt_options = chosen[0][1]
    assert trt_options["trt_fp16_enable"] is True
    assert trt_options["trt_engine_cache_path"] == str(tmp_path)
    cuda_only = choose_providers([TRT, CUDA, CPU], Provider.CUDA, fp16=False, cache_dir=None)
    assert [p[0] if isinstance(p, tuple) else p for p in cuda_only] == [CUDA, CPU]
    with pytest.raises(TargetUnavailableError, match="no GPU execution provider"):
        choose_providers([CPU], Provider.AUTO, fp16=False, cache_dir=None)


def test_unknown_provider_is_rejected():
    with pytest.raises(BadInputError, match="gpu provider 'metal' is not one of: auto"):
        GpuTarget(provider="metal")


@pytest.mark.skipif(GPU_REASON is None, reason="this machine has a usable GPU")
def test_without_a_gpu_compile_refuses_with_the_reason(cnn_artifacts, tmp_path):
    with pytest.raises(TargetUnavailableError, match="gpu: "):
        GpuTarget().compile(cnn_artifacts[1], tmp_path)


@pytest.mark.gpu
@pytest.mark.skipif(GPU_REASON is not None, reason=f"gpu target unavailable: {GPU_REASON}")
@pytest.mark.parametrize("provider, fp16", [("cuda", False), ("tensorrt", False),
                                            ("tensorrt", True)])
def test_gpu_runs_the_cnn(cnn_artifacts, digits, reference_logits, tmp_path, provider, fp16):
    target = GpuTarget(provider=provider, fp16=fp16)
    compiled = target.compile(cnn_artifacts[1], tmp_path)
    runner = target.load(compiled, RunOptions(threads=1))
    outputs = runner.run(digits.x_test)
    agreement = np.mean(outputs.argmax(1) == reference_logits.argmax(1))
    assert agreement >= (0.99 if fp16 else 0.995)
    assert runner.metrics()["device_latency_ms"]["p50"] > 0
