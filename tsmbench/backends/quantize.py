"""Reduced precision expressed in the ONNX model: static int8 Q/DQ and fp16 casts.

int8 uses ONNX Runtime's static quantisation in QDQ format, calibrated on real frames when a
dataset is given (`calibration_batches`) and otherwise on random-but-realistic inputs: smooth
images with the ImageNet normalisation applied, so that activation ranges resemble those of
video frames rather than of white noise. Activations and weights are symmetric (per-channel
weights), which is what TensorRT's explicit quantisation accepts, so the same QDQ file serves
ONNX Runtime and TensorRT 10/11.

fp16 for TensorRT 11 (strongly typed networks take their precision from the model): weights and
compute in fp16 with fp32 inputs/outputs kept (casts at the edges), the same contract as
ModelOpt AutoCast's keep_io_types. Normalisation-sensitive ops run fine in fp16 for these
CNNs; use ModelOpt AutoCast when it is installed for finer control.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Iterator

from tsmbench.errors import BackendUnavailableError, UsageError

_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


def realistic_random(shape: tuple[int, ...], *, seed: int = 0) -> Any:
    """Random smooth images, normalised like real frames: a blurred, upsampled noise field in [0, 1]."""
    import numpy as np

    rng = np.random.default_rng(seed)
    *lead, c, h, w = shape
    coarse = rng.random((*lead, c, max(2, h // 8), max(2, w // 8)), dtype=np.float32)
    img = coarse.repeat(8, axis=-2).repeat(8, axis=-1)[..., :h, :w]
    if img.shape[-2] < h or img.shape[-1] < w:
        img = np.pad(img, [(0, 0)] * (img.ndim - 2) + [(0, h - img.shape[-2]), (0, w - img.shape[-1])], mode="edge")
    img = np.clip(img + rng.normal(0, 0.05, img.shape).astype(np.float32), 0.0, 1.0)
    mean = np.asarray(_MEAN, dtype=np.float32).reshape(3, 1, 1)
    std = np.asarray(_STD, dtype=np.float32).reshape(3, 1, 1)
    return ((img - mean) / std).astype(np.float32)


def random_calibration(input_shapes: dict[str, tuple[int, ...]], *, batches: int = 8, seed: int = 0) -> list[dict[str, Any]]:
    """Calibration feeds for every input: realistic frames for "input", zeros-or-small for buffers."""
    import numpy as np

    feeds = []
    for b in range(batches):
        feed = {}
        for name, shape in input_shapes.items():
            if name == "input":
                feed[name] = realistic_random(shape, seed=seed + b)
            else:  # online shift buffers: activations of the previous frame, roughly post-ReLU6 scale
                feed[name] = np.random.default_rng(seed + 100 + b).random(shape, dtype=np.float32) * 2.0
        feeds.append(feed)
    return feeds


def _static_shapes(model_path: str | Path, batch: int) -> dict[str, tuple[int, ...]]:
    import onnx

    m = onnx.load(str(model_path), load_external_data=False)
    shapes = {}
    for inp in m.graph.input:
        dims = []
        for i, d in enumerate(inp.type.tensor_type.shape.dim):
            dims.append(d.dim_value if d.dim_value > 0 else (batch if i == 0 else 1))
        shapes[inp.name] = tuple(dims)
    return shapes


def quantize_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    *,
    calibration: Iterable[dict[str, Any]] | None = None,
    batch: int = 1,
    calibration_batches: int = 8,
    per_channel: bool = True,
    target: str = "tensorrt",
) -> Path:
    """Static int8 QDQ quantisation of an fp32 ONNX file for `target`.

    "tensorrt": int8 activations and weights, both symmetric, as TensorRT requires.
    "onnxruntime": uint8 (asymmetric) activations with int8 weights, the U8S8 form that ONNX
    Runtime's x86 kernels run fastest; the symmetric S8S8 graph was measured slower than fp32
    here (TSN-R50 8x224: 432 ms int8 S8S8, 353 ms fp32, 105 ms U8S8).
    """
    if target not in ("tensorrt", "onnxruntime"):
        raise UsageError(f"int8 target must be 'tensorrt' or 'onnxruntime', got {target!r}")
    try:
        from onnxruntime.quantization import (
            CalibrationDataReader,
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError:
        raise BackendUnavailableError("int8 quantisation needs onnxruntime's quantization tools: pip install onnxruntime") from None

    feeds = list(calibration) if calibration is not None else random_calibration(
        _static_shapes(fp32_path, batch), batches=calibration_batches
    )
    if not feeds:
        raise UsageError("int8 calibration needs at least one batch of frames")

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[dict[str, Any]] = iter(feeds)

        def get_next(self) -> dict[str, Any] | None:
            return next(self._it, None)

        def rewind(self) -> None:
            self._it = iter(feeds)

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    pre = out_path.with_name(out_path.stem + ".pre.onnx")
    tmp = out_path.with_name(out_path.name + ".partial")
    try:
        quant_pre_process(str(fp32_path), str(pre), skip_symbolic_shape=True)
        src = pre
    except Exception:  # noqa: BLE001 - pre-processing is an optimisation; quantise the raw graph without it
        src = Path(fp32_path)
    try:
        quantize_static(
            str(src), str(tmp), _Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QInt8 if target == "tensorrt" else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": target == "tensorrt", "WeightSymmetric": True},
        )
        tmp.replace(out_path)
    finally:
        pre.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return out_path


def convert_fp16(fp32_path: str | Path, out_path: str | Path) -> Path:
    """An fp16 copy of the model with fp32 inputs/outputs (casts at the edges), for strongly typed TRT."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    m = onnx.load(str(fp32_path))
    g = m.graph
    for init in g.initializer:
        if init.data_type == TensorProto.FLOAT:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    for node in g.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == TensorProto.FLOAT:
                    attr.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(attr.t).astype(np.float16)))
        if node.op_type == "Cast":
            for attr in node.attribute:
                if attr.name == "to" and attr.i == TensorProto.FLOAT:
                    attr.i = TensorProto.FLOAT16
    new_nodes = []
    for inp in g.input:
        if inp.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half = inp.name + "_fp16"
        for node in g.node:
            node.input[:] = [half if x == inp.name else x for x in node.input]
        new_nodes.append(helper.make_node("Cast", [inp.name], [half], to=TensorProto.FLOAT16, name=f"cast_in_{inp.name}"))
    tail = []
    for out in g.output:
        if out.type.tensor_type.elem_type != TensorProto.FLOAT:
            continue
        half = out.name + "_fp16"
        for node in g.node:
            node.output[:] = [half if x == out.name else x for x in node.output]
        tail.append(helper.make_node("Cast", [half], [out.name], to=TensorProto.FLOAT, name=f"cast_out_{out.name}"))
    nodes = new_nodes + list(g.node) + tail
    del g.node[:]
    g.node.extend(nodes)
    del g.value_info[:]
    out_path = Path(out_path)
    onnx.save(m, str(out_path))
    onnx.checker.check_model(str(out_path))
    return out_path


def _normalise(frames_uint8: Any, mean: tuple[float, ...] = _MEAN, std: tuple[float, ...] = _STD) -> Any:
    """(T, H, W, 3) uint8 RGB -> (T, 3, H, W) float32, normalised like the models' input (ImageNet by default)."""
    import numpy as np

    x = frames_uint8.astype(np.float32) / 255.0
    x = (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return x.transpose(0, 3, 1, 2).copy()


def _resize(frames_uint8: Any, size: int) -> Any:
    import numpy as np
    from PIL import Image

    if frames_uint8.shape[1] == size and frames_uint8.shape[2] == size:
        return frames_uint8
    return np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.BILINEAR)) for f in frames_uint8])


def synthetic_normalisation() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """mean/std of the bundled synthetic benchmark (its dataset card's input block), ImageNet if unreadable."""
    try:
        from tsmbench.data.cards import load_dataset_card

        block = load_dataset_card("synthetic").extra.get("input") or {}
        return tuple(block["mean"]), tuple(block["std"])
    except (KeyError, TypeError, OSError, ValueError, ImportError):
        return _MEAN, _STD


def _synthetic_clips(count: int, *, frames: int, size: int, seed: int) -> list[Any]:
    """Clips from the bundled synthetic benchmark's generator (rendered in memory, no files)."""
    import numpy as np

    from tsmbench.data.synthetic import NUM_CLASSES, render_clip

    rng = np.random.default_rng(seed)
    return [_resize(render_clip(i % NUM_CLASSES, rng, num_frames=frames, size=max(32, size)), size) for i in range(count)]


def _video_clips(folder: Path, count: int, *, frames: int, size: int) -> list[Any]:
    """Uniformly sampled frames of up to `count` videos found under `folder`."""
    import numpy as np

    from tsmbench.data.decode import VideoReader
    from tsmbench.data.sampling import sample_frames

    exts = {".mp4", ".avi", ".mkv", ".webm", ".mov"}
    videos = sorted(p for p in folder.rglob("*") if p.suffix.lower() in exts)[:count]
    if not videos:
        raise UsageError(f"no videos (.mp4, .avi, .mkv, .webm, .mov) under {folder} to calibrate int8 on")
    clips = []
    for v in videos:
        with VideoReader(v) as reader:
            idx = sample_frames(reader.num_frames, num_segments=frames, protocol="uniform")[0]
            imgs = reader.frames(idx)
        clips.append(_resize(np.stack([np.asarray(im.convert("RGB")) for im in imgs]), size))
    return clips


def calibration_tag(source: str) -> str:
    """A file-name tag for a calibration source: random, synthetic, or videos-<hash of the folder path>."""
    if source in ("random", "synthetic"):
        return source
    import hashlib

    return "videos-" + hashlib.sha256(str(Path(source).resolve()).encode()).hexdigest()[:10]


def calibration_feeds(
    source: str, input_shapes: dict[str, tuple[int, ...]], *, batches: int = 8, seed: int = 0
) -> list[dict[str, Any]]:
    """Calibration feeds: "random" (realistic random frames), "synthetic" (the bundled benchmark's
    generator) or a folder of videos. Offline input (N, T, 3, S, S); online input (N, 3, S, S)
    takes consecutive frames and carries no real buffers (random ones of activation scale)."""
    import numpy as np

    if source == "random":
        return random_calibration(input_shapes, batches=batches, seed=seed)
    shape = input_shapes["input"]
    online = len(shape) == 4
    n = shape[0]
    frames = 1 if online else shape[1]
    size = shape[-1]
    count = batches * n
    if source == "synthetic":
        clips = _synthetic_clips(count, frames=max(frames, 8) if online else frames, size=size, seed=seed)
    else:
        folder = Path(source)
        if not folder.is_dir():
            raise UsageError(f"--calibration must be 'random', 'synthetic' or a folder of videos, got {source!r}")
        clips = _video_clips(folder, count, frames=max(frames, 8) if online else frames, size=size)
    mean, std = synthetic_normalisation() if source == "synthetic" else (_MEAN, _STD)
    arrays = [_normalise(c, mean, std) for c in clips]
    feeds = []
    extra = random_calibration({k: v for k, v in input_shapes.items() if k != "input"}, batches=batches, seed=seed)
    for b in range(batches):
        chunk = [arrays[(b * n + i) % len(arrays)] for i in range(n)]
        x = np.stack([c[b % len(c)] for c in chunk]) if online else np.stack(chunk)
        feeds.append({"input": x.astype(np.float32), **extra[b]})
    return feeds
