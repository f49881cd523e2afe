"""`sparana import`."""

from __future__ import annotations

from pathlib import Path

import click

from sparana_cli.cli.common import common_options, examples
from sparana_cli.ui import percent

EXAMPLES = examples(
    "sparana import mlp.safetensors --spec configs/mnist.yaml name=torch-mlp",
    "sparana import model.onnx --spec configs/fashion-mnist.yaml train.lr=0.001",
    "sparana import mnist.npz --spec configs/mnist.yaml name=mnist-back",
    page="models.md")


@click.command("import", epilog=EXAMPLES)
@click.argument("file", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", metavar="[KEY=VALUE]...", nargs=-1)
@click.option("--spec", "spec_file", metavar="SPEC", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="YAML spec giving the data and the settings later commands use; KEY=VALUE items override it.")
@common_options
def import_model(file, overrides, spec_file, root, console):
    """Make a train-phase run from a network trained elsewhere, so that evaluate, prune, forget and attack work on it.

    FILE is safetensors (a PyTorch nn.Sequential of Linear and ReLU: tensors [PREFIX.]<i>.weight
    (out, in) and [PREFIX.]<i>.bias, as safetensors.torch.save_file(model.state_dict(), FILE)
    writes them, or Sparana's own export), an ONNX graph of Gemm or MatMul + Add, Relu and a
    final Softmax, or Sparana's NPZ export. A safetensors file holds no graph: the layers between
    the Linear ones are taken to be ReLU. Convolutions, other activations, pickle files (.pt, .pth)
    and networks whose widths do not match the data's features and classes are refused; nothing
    is unpickled. The run's provenance records the file and its sha256.
    """
    from sparana_cli.phases.import_model import import_model as run_import
    from sparana_cli.spec import load_spec

    spec = load_spec(spec_file, overrides)
    summary = run_import(file, spec, root=root, console=console)
    console.result(summary, (
        f"imported {summary['file']} ({summary['format']}): {'-'.join(map(str, summary['layer_sizes']))} "
        f"{summary['output']}/{summary['loss']} {summary['dtype']}"
        + (f", {summary['pruned_weights']} pruned (zero) weights" if summary["pruned_weights"] else "")
        + f"\ntest accuracy {percent(summary['test_accuracy'])} on {summary['dataset']}\n"
        f"sha256 {summary['sha256']}\nrun: {summary['run']}"
    ))
