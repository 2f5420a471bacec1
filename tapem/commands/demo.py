"""``python -m tapem demo``: train an MLP on the bundled digits and show what tapem records."""

from __future__ import annotations

import argparse

from tapem.commands import Command

__all__ = ["COMMAND"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    parser.add_argument(
        "--plot",
        default="tapem-demo-loss.png",
        metavar="PNG",
        help="where to save the loss curve (needs matplotlib; '' to skip)",
    )


def main(args: argparse.Namespace) -> int:
    from tapem.demo import main as demo

    demo(epochs=args.epochs, plot=args.plot or None)
    return 0


COMMAND = Command("demo", "train an MLP on the bundled digits and show its trace", configure, main)
