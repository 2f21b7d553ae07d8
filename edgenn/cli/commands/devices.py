"""`edgenn devices add|list|check|remove`: the boards and phones `--device NAME` measures on."""

from __future__ import annotations

import argparse

HELP = "the boards and phones rows are measured on with --device (ssh://user@host)"
DESCRIPTION = """\
Keep a list of your own devices and measure on them: `edgenn run --device pi` and
`edgenn bench MODEL --data D.npz --device pi` ship the compiled model, the test split and
a small runner to the device over SSH, measure there with the same method as on this
machine (warm-up, timed runs of run() alone, percentiles, peak memory) and score the
outputs here against the PyTorch reference. Device rows are named TARGET@DEVICE (cpu@pi,
ort-mobile@pi, tflite@pi) and sit in the same report as the local rows. The device needs
Python 3 with numpy, and onnxruntime (cpu, ort-mobile rows) or ai-edge-litert /
tflite-runtime (tflite rows); `check` says what is missing and how to install it.

SSH is the system OpenSSH client in batch mode: keys only (your agent, ~/.ssh/config,
or --identity), never a password, which edgenn never stores. Accept the device's host key
once with a plain `ssh` first. The list is $XDG_CONFIG_HOME/edgenn/devices.toml
(default ~/.config/edgenn/devices.toml).

Examples:
  edgenn devices add pi ssh://pi@raspberrypi.local
  edgenn devices add board ssh://root@10.0.0.7:2222 --python /opt/venv/bin/python \\
      --identity ~/.ssh/id_board
  edgenn devices check pi          # OS, CPU, cores, Python, runtimes (exit 2: unreachable)
  edgenn devices list
  edgenn run --targets cpu --device pi
  edgenn devices remove pi
"""


def configure(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    add = verbs.add_parser("add", help="add (or --replace) a device",
                           description="Add a device to devices.toml.")
    add.add_argument("name", metavar="NAME", help="what --device NAME will call it")
    add.add_argument("url", metavar="URL", help="ssh://user@host[:port] (user and port: "
                                                "default from your ssh config)")
    add.add_argument("--python", default="python3", metavar="CMD",
                     help="the Python on the device, with numpy and its runtimes "
                          "(default: %(default)s)")
    add.add_argument("--scratch", default="/tmp", metavar="DIR",
                     help="where the run's private folder is made (and removed) on the "
                          "device (default: %(default)s)")
    add.add_argument("--identity", default=None, metavar="KEY",
                     help="private key file to log in with (default: agent, ssh config)")
    add.add_argument("--ssh-config", default=None, metavar="FILE",
                     help="an ssh_config file to use instead of ~/.ssh/config")
    add.add_argument("--connect-timeout", type=int, default=10, metavar="S",
                     help="seconds before an unreachable device is given up "
                          "(default: %(default)s)")
    add.add_argument("--replace", action="store_true", help="replace a device of that name")
    listing = verbs.add_parser("list", help="list the devices",
                               description="List the devices in devices.toml.")
    listing.add_argument("--json", action="store_true", help="print JSON")
    check = verbs.add_parser("check", help="reach a device and list what it has",
                             description="Reach a device: OS, architecture, CPU, cores, "
                                         "Python and runtimes, with the command that "
                                         "installs what is missing. Exit 2 when it cannot "
                                         "be reached or logged into.")
    check.add_argument("name", metavar="NAME")
    check.add_argument("--json", action="store_true", help="print JSON")
    remove = verbs.add_parser("remove", help="remove a device",
                              description="Remove a device from devices.toml.")
    remove.add_argument("name", metavar="NAME")


def execute(args: argparse.Namespace, ui) -> int:
    from rich.markup import escape

    from edgenn import api

    if args.verb == "add":
        device = api.add_device(args.name, args.url, replace_existing=args.replace,
                                python=args.python, scratch=args.scratch,
                                identity=args.identity, ssh_config=args.ssh_config,
                                connect_timeout=args.connect_timeout)
        ui.print(f"added {escape(device.name)} → {escape(device.url)}; reach it with "
                 f"`edgenn devices check {escape(device.name)}`")
    elif args.verb == "remove":
        api.remove_device(args.name)
        ui.print(f"removed {escape(args.name)}")
    elif args.verb == "list":
        devices = api.list_devices()
        if args.json:
            from dataclasses import asdict

            ui.emit_json([asdict(d) for d in devices])
        elif not devices:
            ui.print("no devices yet: `edgenn devices add NAME ssh://user@host`")
        else:
            for device in devices:
                ui.print(f"{escape(device.name)}  {escape(device.url)}  "
                         f"python={escape(device.python)}")
    else:
        info = api.check_device(args.name)
        if args.json:
            ui.emit_json({"name": info.name, **info.facts})
        else:
            _show_check(ui, info)
    return 0


def _show_check(ui, info) -> None:
    from rich.markup import escape

    facts = info.facts
    ui.print(f"[bold]{escape(info.name)}[/bold]: {escape(str(facts.get('system')))} "
             f"{escape(str(facts.get('release')))} · {escape(info.arch)} · "
             f"{escape(str(facts.get('cpu')))} · {facts.get('cores')} cores · Python "
             f"{escape(str(facts.get('python')))} ({escape(str(facts.get('executable')))})")
    for name, found in facts.get("runtimes", {}).items():
        if found:
            ui.print(f"  [green]✓[/green] {name} {escape(str(found['version']))}")
        else:
            ui.print(f"  [red]✗[/red] {name} — install there: "
                     f"{escape(info.install_command([name]))}")
    free = facts.get("scratch_free_bytes")
    if free is not None:
        ui.print(f"  scratch: {free / 2**30:.1f} GiB free")


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """`--device NAME` for the verbs that measure (run, bench)."""
    parser.add_argument("--device", action="append", metavar="NAME",
                        help="also measure on this device (`edgenn devices list`; "
                             "repeatable): its rows are TARGET@NAME in the same report")


def with_devices(config, args: argparse.Namespace):
    """`config` with the devices --device named (unchanged without any)."""
    from dataclasses import replace

    return replace(config, devices=tuple(args.device)) if args.device else config
