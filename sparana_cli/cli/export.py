"""`sparana export`."""

from __future__ import annotations

from pathlib import Path

import click

from sparana_cli.cli.common import common_options, examples, pick_run

EXAMPLES = examples(
    "sparana export --format onnx",
    "sparana export runs/mnist-prune-20261121-160301 --format safetensors --out pruned.safetensors",
    "sparana export runs/mnist-forget-20261121-161502 --format npz",
    page="models.md")


@click.command(epilog=EXAMPLES)
@click.argument("run", required=False)
@click.option("--format", "kind", type=click.Choice(["safetensors", "onnx", "npz"]), required=True,
              help="safetensors (PyTorch nn.Sequential names), onnx (a Gemm/Relu graph onnxruntime runs) or npz.")
@click.option("--out", "out", metavar="FILE", type=click.Path(path_type=Path), default=None,
              help="File to write (replaced if it exists) [default: ./<run name>.safetensors, .onnx or .npz].")
@common_options
def export(run, kind, out, root, console):
    """Write RUN's network to a model file other tools read, with its metadata.

    The network as the run holds it: masks applied (pruned weights are zeros), a shrunk network at
    its shrunk size, CSR layers written dense. Weights are written as PyTorch's nn.Sequential of
    Linear and ReLU names them: <2i>.weight (out, in) and <2i>.bias. The metadata (layer sizes,
    output activation, loss, run name, provenance) goes into the format's own metadata:
    safetensors __metadata__, ONNX metadata_props, an NPZ entry __metadata__ (JSON).
    RUN is a run folder or its name in the runs folder [default: the newest finished train run].
    """
    from sparana_cli.phases.export import export as run_export

    summary = run_export(pick_run(root, run, console), kind, out, console=console)
    dense = summary["csr_written_dense"]
    console.result({k: v for k, v in summary.items() if k != "metadata"}, (
        f"wrote {summary['file']} ({summary['format']}, {summary['bytes']} bytes): "
        f"{'-'.join(map(str, summary['layer_sizes']))} {summary['output']} output, "
        f"{sum(summary['nonzero'])} nonzero weights"
        + (f"; CSR layers {', '.join(map(str, dense))} written dense" if dense else "")
        + f"\nsha256 {summary['sha256']}"
    ))
