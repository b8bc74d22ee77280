"""`tsmbench export onnx|engine`: deployable files, each checked against torch before it is kept."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tsmbench.cli.common import JsonFlag, emit_json, err_console, out_console
from tsmbench.errors import UsageError

export_app = typer.Typer(help="Export a model to ONNX or a TensorRT engine, with a parity check against torch.",
                         no_args_is_help=True)


def _batch(value: str) -> int | None:
    if value == "dynamic":
        return None
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"--batch takes a positive integer or 'dynamic', got {value!r}")
    return int(value)


def _report(doc: dict[str, Any], json_out: bool) -> None:
    if json_out:
        emit_json(doc)
        return
    out_console.print(f"wrote {doc['output']}")
    for key in ("onnx_parity", "parity"):
        p = doc.get(key)
        if p:
            status = "ok" if p["ok"] else "MISMATCH (kept: --allow-mismatch)"
            out_console.print(
                f"{key.replace('_', ' ')}: max |diff| {p['max_abs_diff']:.3g} ({p['max_rel_diff']:.2%} of max |logit|, "
                f"tolerance {p['tolerance_rel']:.2%}), top-1 agreement {p['top1_agreement']:.0%} "
                f"(tolerance {p['tolerance_top1']:.0%}) on {p['samples']} random input(s): {status}"
            )
    if doc.get("note"):
        out_console.print(doc["note"])


@export_app.command("onnx")
def export_onnx_command(
    model: Annotated[str, typer.Argument(help="Architecture or zoo id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="ONNX file to write.")],
    batch: Annotated[str, typer.Option("--batch", help="Batch size, or 'dynamic'.")] = "1",
    online: Annotated[bool, typer.Option("--online", help="Per-frame online model: frame + 10 shift buffers in, logits + 10 buffers out.")] = False,
    segments: Annotated[int, typer.Option("--segments", "-t", help="Frames per clip (offline models).")] = 8,
    size: Annotated[int, typer.Option("--size", help="Input height and width.")] = 224,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset.")] = 17,
    precision: Annotated[str, typer.Option("--precision", help="fp32 | fp16 (fp16 weights, fp32 I/O) | int8 (static Q/DQ).")] = "fp32",
    calibration: Annotated[str, typer.Option("--calibration", help="int8: random | synthetic | a folder of videos.")] = "random",
    int8_target: Annotated[str, typer.Option("--int8-target", help="int8 graph for: tensorrt (symmetric int8 activations) | onnxruntime (uint8 activations, fastest on x86 CPUs).")] = "tensorrt",
    num_classes: Annotated[Optional[int], typer.Option("--num-classes")] = None,
    weights: Annotated[Optional[Path], typer.Option("--weights", help="Local checkpoint to load.")] = None,
    exporter: Annotated[str, typer.Option("--exporter", help="auto | torchscript | dynamo")] = "auto",
    allow_mismatch: Annotated[bool, typer.Option("--allow-mismatch", help="Keep the file even if it disagrees with torch.")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Export MODEL to ONNX and report its parity with torch on fresh random inputs."""
    from tsmbench.backends import export as ex
    from tsmbench.backends import quantize

    if precision not in ("fp32", "fp16", "int8"):
        raise UsageError(f"--precision for ONNX must be fp32, fp16 or int8, got {precision!r}")
    if int8_target not in ("tensorrt", "onnxruntime"):
        raise UsageError(f"--int8-target must be tensorrt or onnxruntime, got {int8_target!r}")
    n = _batch(batch)
    if online and n is None:
        raise UsageError("the online model is exported with a fixed batch (its buffers carry it): pass --batch N")
    m = ex.load_model_for(model, segments=1 if online else segments, num_classes=num_classes,
                          weights=str(weights) if weights else None, online=online)
    if ex.is_online(m) and not online:
        raise UsageError(f"{model} is an online model: add --online")
    seg = 1 if online else segments
    target = output if precision == "fp32" else output.with_name(output.stem + ".fp32.onnx")
    err_console.print(f"exporting {model} to {target}", markup=False)
    ex.export_onnx(m, target, batch=n, segments=seg, size=size, opset=opset, exporter=exporter)
    check_batch = n or 2
    parity = ex.onnxruntime_parity(m, target, batch=check_batch, segments=seg, size=size)
    doc: dict[str, Any] = {"model": model, "output": str(output), "precision": precision, "batch": n or "dynamic",
                           "online": online, "segments": seg, "size": size, "opset": opset, "onnx_parity": parity.as_dict()}
    try:
        ex.enforce(parity, allow_mismatch=allow_mismatch, what=f"ONNX export of {model}")
        if precision != "fp32":
            if precision == "int8":
                shapes = quantize._static_shapes(target, check_batch)
                quantize.quantize_int8(target, output, calibration=quantize.calibration_feeds(calibration, shapes),
                                       target=int8_target)
                doc["int8_target"] = int8_target
            else:
                quantize.convert_fp16(target, output)
            inputs = None
            if precision == "int8":  # compared on fresh inputs drawn like the calibration data, not white noise
                import torch

                source = calibration if calibration in ("random", "synthetic") else "random"
                feed = quantize.calibration_feeds(source, quantize._static_shapes(target, check_batch), batches=1, seed=4321)[0]
                inputs = [torch.from_numpy(v) for v in feed.values()]
            report = ex.onnxruntime_parity(m, output, batch=check_batch, segments=seg, size=size, precision=precision,
                                           inputs=inputs)
            doc["parity"] = report.as_dict()
            ex.enforce(report, allow_mismatch=allow_mismatch, what=f"{precision} ONNX model of {model}")
    except Exception:
        output.unlink(missing_ok=True)
        raise
    finally:
        if target != output:
            target.unlink(missing_ok=True)
    _report(doc, json_out)


@export_app.command("engine")
def export_engine_command(
    model: Annotated[str, typer.Argument(help="Architecture or zoo id.")],
    precision: Annotated[str, typer.Option("--precision", help="fp32 | fp16 | bf16 | int8")] = "fp16",
    device: Annotated[str, typer.Option("--device", help="cuda (TensorRT Python API here) | jetson (trtexec on the board).")] = "cuda",
    host: Annotated[Optional[str], typer.Option("--host", help="USER@BOARD for --device jetson from a workstation.")] = None,
    ssh_config: Annotated[Optional[Path], typer.Option("--ssh-config", help="ssh config file (ssh -F).")] = None,
    remote_dir: Annotated[str, typer.Option("--remote-dir", help="Working folder on the board.")] = "/tmp/tsmbench",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Engine file (default: the engine cache).")] = None,
    batch: Annotated[int, typer.Option("--batch")] = 1,
    online: Annotated[bool, typer.Option("--online")] = False,
    segments: Annotated[int, typer.Option("--segments", "-t")] = 8,
    size: Annotated[int, typer.Option("--size")] = 224,
    calibration: Annotated[str, typer.Option("--calibration", help="int8: random | synthetic | a folder of videos.")] = "random",
    num_classes: Annotated[Optional[int], typer.Option("--num-classes")] = None,
    weights: Annotated[Optional[Path], typer.Option("--weights")] = None,
    allow_mismatch: Annotated[bool, typer.Option("--allow-mismatch")] = False,
    json_out: JsonFlag = False,
) -> None:
    """Build a TensorRT engine for MODEL (TRT 10: builder flags; TRT 11: precision in the ONNX) and check parity."""
    import shutil

    from tsmbench.backends import export as ex
    from tsmbench.backends import quantize

    if precision not in ("fp32", "fp16", "bf16", "int8"):
        raise UsageError(f"--precision must be fp32, fp16, bf16 or int8, got {precision!r}")
    if device not in ("cuda", "jetson"):
        raise UsageError(f"--device must be cuda or jetson, got {device!r}")
    if host and device != "jetson":
        raise UsageError("--host is for --device jetson")
    seg = 1 if online else segments
    m = ex.load_model_for(model, segments=seg, num_classes=num_classes, weights=str(weights) if weights else None, online=online)
    w = str(weights) if weights else None
    onnx = ex.ensure_onnx(m, model, weights=w, batch=batch, segments=seg, size=size,
                          log=lambda s: err_console.print(s, markup=False))
    parity = ex.onnxruntime_parity(m, onnx, batch=batch, segments=seg, size=size)
    ex.enforce(parity, allow_mismatch=allow_mismatch, what=f"ONNX export of {model}")
    shapes = quantize._static_shapes(onnx, batch)
    cal = quantize.calibration_feeds(calibration, shapes) if precision == "int8" else None
    doc: dict[str, Any] = {"model": model, "precision": precision, "device": device, "batch": batch,
                           "onnx_parity": parity.as_dict()}
    if device == "cuda":
        from tsmbench.backends import tensorrt_backend as trtb

        engine, built_from = trtb.cached_engine(onnx, model=model, weights_sha=ex.checksum_of(w), precision=precision,
                                                shapes=shapes, batch=batch, calibration=cal,
                                                log=lambda s: err_console.print(s, markup=False))
        runner = trtb.TensorRTRunner(engine, shapes)
        inputs = ex.example_inputs(m, batch=batch, segments=seg, size=size, seed=4321)
        report = ex.compare_logits(ex.torch_reference(m, inputs), runner.run(dict(zip(shapes, inputs))), precision=precision)
        doc["parity"] = report.as_dict()
        ex.enforce(report, allow_mismatch=allow_mismatch, what=f"TensorRT {precision} engine of {model}")
        final = output or engine
        if output:
            output.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(engine, output)
        doc.update({"output": str(final), "onnx": str(built_from), "tensorrt_version": runner.info["tensorrt"]})
    else:
        from tsmbench.devices.jetson import LocalBoard, build_engine_on_board
        from tsmbench.devices.ssh import SshHost

        board: Any = SshHost(host, config=str(ssh_config) if ssh_config else None) if host else LocalBoard()
        src = onnx
        if precision == "int8":
            src = onnx.with_name(onnx.stem + f"-int8-{quantize.calibration_tag(calibration)}.onnx")
            if not src.exists():
                quantize.quantize_int8(onnx, src, calibration=cal)
        fp16 = None
        if precision == "fp16":
            fp16 = onnx.with_name(onnx.stem + "-fp16.onnx")
            if not fp16.exists():
                quantize.convert_fp16(onnx, fp16)
        final = output or Path.cwd() / f"{model}-{precision}-b{batch}.engine"
        inputs = ex.example_inputs(m, batch=batch, segments=seg, size=size, seed=4321)
        if precision == "int8":  # compared on inputs drawn like the calibration data
            import torch

            source = calibration if calibration in ("random", "synthetic") else "random"
            feed = quantize.calibration_feeds(source, shapes, batches=1, seed=4321)[0]
            inputs = tuple(torch.from_numpy(v) for v in feed.values())
        check = ({name: t.numpy() for name, t in zip(shapes, inputs)}, ex.torch_reference(m, inputs))
        info = build_engine_on_board(board, src, final, precision=precision, batch_shape=shapes["input"], fp16_onnx=fp16,
                                     remote_dir=remote_dir, parity=check, allow_mismatch=allow_mismatch)
        doc.update({"output": str(final), **{k: v for k, v in info.items() if k != "command"}})
    _report(doc, json_out)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
