"""Command-line entry points (DESIGN.md: Command line).

Every capability of the core is scriptable from here, which is also the
proof that the core needs no UI. Errors the core raises on purpose become
one line on stderr and the exit code of DESIGN.md; no traceback reaches a
user.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType

from visualizer import __version__
from visualizer.core.errors import BadInput, VisualizerError

MAX_DURATION_S = 366 * 24 * 3600   # longer is a mistake (1e20, inf), not a plan


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors exit with code 2 in one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise BadInput(f"{self.prog}: {message} (see '{self.prog} --help')")


def _window_size(text: str) -> tuple[int, int]:
    """``"1366x768"`` -> (1366, 768), for ``gui --size``."""
    width, sep, height = text.lower().partition("x")
    if not (sep and width.isascii() and width.isdigit() and height.isascii()
            and height.isdigit() and 320 <= int(width) <= 8192 and 240 <= int(height) <= 8192):
        raise argparse.ArgumentTypeError(f"{text!r} is not a window size such as 1366x768 "
                                         "(320x240 to 8192x8192)")
    return int(width), int(height)


def _cmd_gui(args: argparse.Namespace) -> int:
    from visualizer.gui.app import run_gui

    return run_gui(args.file, screenshot=args.screenshot, select=args.select,
                   size=args.size, presenter=args.presenter, predict=args.predict)


def _cmd_scenarios(args: argparse.Namespace) -> int:
    from visualizer.commands.scenarios import print_scenarios

    return print_scenarios(sys.stdout)


def _cmd_record(args: argparse.Namespace) -> int:
    from visualizer.commands.record import record_command
    from visualizer.commands.record_program import is_program, record_program_command

    if is_program(args):
        return record_program_command(args)

    return record_command(args.scenario, args.output, args.param, args.format, args.interface)


def _cmd_capture(args: argparse.Namespace) -> int:
    from visualizer.core.capture.loop import run_capture

    if args.count is not None and args.count <= 0:
        raise BadInput("--count must be a positive number of packets")
    if args.duration is not None and not 0 < args.duration <= MAX_DURATION_S:
        raise BadInput(f"--duration must be a number of seconds above 0 and at most "
                       f"{MAX_DURATION_S:,} (a year); leave it out to capture until stopped")
    if args.remote is not None:   # the remote host's tcpdump over ssh, the same contract
        from visualizer.core.capture.remote import run_remote_capture

        run_remote_capture(destination=args.remote, interface=args.interface, bpf=args.filter,
                           output=args.output, count=args.count, duration=args.duration,
                           status=sys.stderr, ssh_config=args.ssh_config)
        return 0
    if args.ssh_config is not None:
        raise BadInput("--ssh-config goes with --remote USER@HOST")
    # This process is the capture process: it gives up its privileges once
    # its socket is open.
    # No -i means lo; -i '' is a bad name, refused as one (not taken for lo).
    run_capture(interface="lo" if args.interface is None else args.interface, bpf=args.filter,
                output=args.output, count=args.count, duration=args.duration,
                status=sys.stderr, drop_privileges=True)
    return 0


def _cmd_analyze(args: argparse.Namespace) -> int:
    from visualizer.commands.analyze import analyze_command

    if args.expert:
        from visualizer.commands.expert import expert_command

        return expert_command(args.file, out=sys.stdout)

    return analyze_command(args.file, json_lines=args.json, stats=args.stats, out=sys.stdout,
                           display_filter=args.display_filter)


def _cmd_ladder(args: argparse.Namespace) -> int:
    from visualizer.commands.ladder import ladder_command

    return ladder_command(args.file, stream=args.stream, absolute=args.absolute, out=sys.stdout)


def _cmd_quiz(args: argparse.Namespace) -> int:
    from visualizer.commands.quiz import quiz_command

    return quiz_command(args.file, stream=args.stream, ask=args.ask, count=args.count,
                        answers=sys.stdin, out=sys.stdout)


def _cmd_follow(args: argparse.Namespace) -> int:
    from visualizer.commands.follow import follow_command

    return follow_command(args.file, stream=args.stream, udp=args.udp, fmt=args.format,
                          output=args.output)


def _cmd_export(args: argparse.Namespace) -> int:
    if args.animate:
        from visualizer.commands.animate import animate_command

        return animate_command(args.file, args.output, stream=args.stream, first=args.first,
                               last=args.last, size=args.size, fps=args.fps)
    from visualizer.commands.export import export_command

    return export_command(args.file, args.output, stream=args.stream, fmt=args.format,
                          annotate=args.annotate, absolute=args.absolute, scale=args.scale,
                          end=args.end)


def _cmd_install_desktop(args: argparse.Namespace) -> int:
    from visualizer.commands.install_desktop import install_desktop_command

    return install_desktop_command(remove=args.remove, out=sys.stdout)


def _cmd_setup_capture(args: argparse.Namespace) -> int:
    from visualizer.commands.setup_capture import setup_capture_command

    return setup_capture_command(venv=args.venv, group=args.group, remove=args.remove,
                                 with_net_admin=args.with_net_admin,
                                 allow_user_owned=args.allow_user_owned,
                                 interpreter=args.interpreter, out=sys.stdout)


def _cmd_setup_extcap(args: argparse.Namespace) -> int:
    from visualizer.commands.setup_extcap import setup_extcap_command

    return setup_extcap_command(remove=args.remove, out=sys.stdout)


def _cmd_extcap(argv: Sequence[str]) -> int:
    from visualizer.commands.extcap import extcap_command

    return extcap_command(argv, sys.stdout)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (kill, timeout, a service manager) stops a command as Ctrl-C does: a
    recording writes what it captured and removes its network namespace, instead
    of dying with both left behind. Only the main thread may set a handler."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="visualizer",
                     description="Makes TCP and UDP visible. With no command, starts the GUI.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], help_: str
            ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=func)
        return p

    p = add("gui", _cmd_gui, "start the desktop application")
    p.add_argument("file", nargs="?", help="a pcap or pcapng file, or a lesson (.toml), to open")
    p.add_argument("--screenshot", metavar="PNG", help="render the window to PNG and exit")
    p.add_argument("--select", type=int, metavar="N", help="select packet N (1-based)")
    p.add_argument("--size", type=_window_size, default=(1440, 900), metavar="WxH",
                   help="with --screenshot: the window's size (default 1440x900)")
    p.add_argument("--presenter", action="store_true",
                   help="start in presenter mode (full screen, large type; F11 leaves it)")
    p.add_argument("--predict", action="store_true",
                   help="start in predict mode: guess each packet before it is shown")

    add("scenarios", _cmd_scenarios, "list the built-in scenarios and their parameters")

    p = add("record", _cmd_record, "run a scenario, or your own programs (--server/--run), "
            "with capture on and write the recording")
    p.add_argument("scenario", nargs="?", help="scenario name (see 'visualizer scenarios')")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="recording to write")
    p.add_argument("--param", action="append", default=[], metavar="K=V",
                   help="scenario parameter (repeatable)")
    p.add_argument("--format", choices=("pcapng", "pcap"), default="pcapng",
                   help="pcapng keeps the socket-call log and parameters (default)")
    p.add_argument("-i", "--interface", default="lo", help=argparse.SUPPRESS)
    p.add_argument("--server", metavar="CMD", help="your server command: started first, "
                   "traced with strace; the clients start once it listens")
    p.add_argument("--run", action="append", default=[], metavar="CMD",
                   help="your client command, run to completion (repeatable)")
    p.add_argument("--filter", metavar="BPF", help="with --server/--run: capture filter "
                   "(default: the ports your commands bind and connect to)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S", help="with "
                   "--server/--run: longest wait for the server to listen, and for each client")
    p.add_argument("--no-trace", action="store_true", help="packets only, no strace")
    p.add_argument("--shell", action="store_true", help="run the commands through /bin/sh")
    p.add_argument("--cwd", metavar="DIR", help="the commands' working directory")

    p = add("capture", _cmd_capture, "capture live packets to a pcap file or stdout")
    p.add_argument("-i", "--interface",
                   help="interface (default: lo; with --remote, tcpdump's default there)")
    p.add_argument("-f", "--filter", metavar="BPF", help="capture filter, tcpdump syntax")
    p.add_argument("--remote", metavar="USER@HOST",
                   help="capture on another host: its tcpdump over ssh (your keys and ssh "
                        "config; never prompts)")
    p.add_argument("--ssh-config", metavar="FILE", help="with --remote: this ssh config file "
                   "instead of ~/.ssh/config")
    p.add_argument("-o", "--output", required=True, metavar="FILE",
                   help="pcap file to write, or - for stdout")
    p.add_argument("-c", "--count", type=int, metavar="N", help="stop after N packets")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")

    p = add("analyze", _cmd_analyze, "one line per packet with the TCP/UDP analysis")
    p.add_argument("file")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--json", action="store_true", help="JSON Lines output")
    mode.add_argument("--stats", action="store_true", help="conversation summary only")
    mode.add_argument("--expert", action="store_true",
                      help="expert information only: findings by severity and kind")
    p.add_argument("-Y", "--display-filter", metavar="EXPR",
                   help="only the packets that match, in Wireshark's display-filter syntax")

    p = add("ladder", _cmd_ladder, "the ladder diagram of a capture as text")
    p.add_argument("file")
    p.add_argument("--stream", type=int, metavar="N", help="only TCP stream N")
    p.add_argument("--absolute", action="store_true", help="absolute seq/ack numbers")

    p = add("quiz", _cmd_quiz, "predict a TCP stream's numbers, one answer a line on stdin")
    p.add_argument("file")
    p.add_argument("--stream", type=int, metavar="N", help="TCP stream N (default 0)")
    p.add_argument("--ask", metavar="FIELDS",
                   help="what to ask about each packet, in order, from seq,ack,len,flags,state "
                        "(default seq,ack)")
    p.add_argument("--count", type=int, metavar="K", help="ask at most K questions")

    p = add("follow", _cmd_follow, "the payload of one TCP stream or UDP flow (Follow Stream)")
    p.add_argument("file")
    p.add_argument("--stream", type=int, required=True, metavar="N",
                   help="the TCP stream (tcp.stream) or, with --udp, the UDP flow")
    p.add_argument("--udp", action="store_true", help="follow UDP flow N")
    p.add_argument("--format", choices=("ascii", "hex", "raw"), default="ascii",
                   help="as tshark -z follow prints it (default ascii)")
    p.add_argument("-o", "--output", default="-", metavar="FILE",
                   help="file to write (default: - for stdout)")

    p = add("export", _cmd_export, "export packets to pcap or pcapng, the ladder to SVG, "
                                     "or the analysis table to Parquet")
    p.add_argument("file")
    p.add_argument("-o", "--output", required=True, metavar="OUT")
    p.add_argument("--stream", type=int, metavar="N", help="only TCP stream N")
    p.add_argument("--format", choices=("pcap", "pcapng", "svg", "parquet"), default=None,
                   help="default: from OUT's extension, else pcapng")
    p.add_argument("--annotate", action="store_true",
                   help="pcapng: each packet's explanation as a comment")
    p.add_argument("--absolute", action="store_true", help="svg: absolute seq/ack numbers")
    p.add_argument("--end", choices=("client", "server"),
                   help="a recording on a path: only the packets as captured at that end "
                        "(what Wireshark should analyse)")
    p.add_argument("--scale", choices=("order", "real", "log"), default=None,
                   help="svg: time axis, event order (default), real time or log of gaps")
    p.add_argument("--animate", action="store_true",
                   help="the ladder's playback as OUT.gif, .mp4, .webm or animated .svg")
    p.add_argument("--from", dest="first", type=int, metavar="A",
                   help="--animate: from packet A (frame number)")
    p.add_argument("--to", dest="last", type=int, metavar="B",
                   help="--animate: to packet B (frame number)")
    p.add_argument("--size", type=_window_size, default=(1280, 720), metavar="WxH",
                   help="--animate: frame size (default 1280x720)")
    p.add_argument("--fps", type=float, metavar="F",
                   help="--animate: frames a second (default 10 for GIF, 25 for video)")

    p = add("install-desktop", _cmd_install_desktop,
            "add the app to your desktop's menu and \"Open with\" for pcap files (no root)")
    p.add_argument("--remove", action="store_true", help="remove what install-desktop added")

    p = add("setup-capture", _cmd_setup_capture,
            "let the capture process, and only it, capture (run with sudo)")
    p.description = ("Builds <venv>/bin/capture-helper, a small C program runnable by root "
                     "and GROUP only (mode 0750), and gives it CAP_NET_RAW: it opens the "
                     "packet socket for the capture process, gives the capability up and "
                     "only captures. The application needs no privilege itself. Without a C "
                     "compiler (or with --interpreter) it copies this venv's interpreter to "
                     "<venv>/bin/python-capture instead, with which any Python code holds "
                     "CAP_NET_RAW. Run with sudo.")
    p.add_argument("--group", metavar="GROUP",
                   help="the existing group whose members may capture (default: the primary "
                        "group of the user running sudo; for a lab, a group such as 'pcap' "
                        "holding the students)")
    p.add_argument("--interpreter", action="store_true",
                   help="copy the interpreter (python-capture) instead of building the "
                        "capture helper: members of GROUP can then run any Python code with "
                        "CAP_NET_RAW, sending forged packets included")
    p.add_argument("--with-net-admin", action="store_true",
                   help="with --interpreter: also grant CAP_NET_ADMIN: capture may then "
                        "raise its receive buffer "
                        "past net.core.rmem_max (fewer drops in bursts), but every member of "
                        "GROUP can also reconfigure this machine's network through that "
                        "interpreter. It does not make tcp-lossy run unprivileged: the "
                        "application creates that network namespace itself, as root")
    p.add_argument("--allow-user-owned", action="store_true",
                   help="accept a venv (or Python installation) that a user other than root "
                        "can change; without it such a venv is refused before anything in it "
                        "runs, since that user could run code as root here and with the "
                        "capture privilege as every member of GROUP")
    p.add_argument("--remove", action="store_true",
                   help="delete the capture helper and the dedicated interpreter")
    p.add_argument("--venv", metavar="DIR",
                   help="the virtual environment to set up (default: the one running this)")

    # Wireshark runs 'extcap' with its own options (main() hands them over as they are).
    add("extcap", lambda args: _cmd_extcap([]), "Wireshark's extcap interface: each scenario as a "
        "capture interface (Wireshark runs it; see setup-extcap)")
    p = add("setup-extcap", _cmd_setup_extcap,
            "install a launcher in your personal Wireshark extcap folder, so that Wireshark "
            "and tshark list the scenarios as capture interfaces")
    p.add_argument("--remove", action="store_true", help="delete the launcher")
    return parser


def _file_means_gui(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``visualizer FILE`` is ``visualizer gui FILE`` (a file manager hands files over
    so): a first word that is no command but names a file, or a capture's name."""
    commands = next(a.choices for a in parser._actions
                    if isinstance(a, argparse._SubParsersAction))
    if argv and argv[0] not in commands and not argv[0].startswith("-") and (
            os.path.exists(argv[0]) or argv[0].lower().endswith((".pcap", ".pcapng"))):
        return ["gui", *argv]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv[:1] == ["extcap"]:   # Wireshark's options, one per scenario parameter
            with _terminate_as_interrupt():
                return _cmd_extcap(argv[1:])
        parser = build_parser()
        args = parser.parse_args(_file_means_gui(parser, argv))
        if args.command is None:
            args = parser.parse_args(["gui"])
        # The window keeps SIGTERM's default: a capture's spool is offered back at start.
        with contextlib.nullcontext() if args.command == "gui" else _terminate_as_interrupt():
            result: int = args.func(args)
        return result
    except VisualizerError as err:
        print(f"visualizer: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("visualizer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the reader went away: not an error.
        with contextlib.suppress(BrokenPipeError):
            sys.stdout.close()
        return 0
    except Exception as err:  # a bug: one line for the user, the traceback on request
        if os.environ.get("VISUALIZER_DEBUG"):
            raise
        print(f"visualizer: internal error: {type(err).__name__}: {err} "
              "(run with VISUALIZER_DEBUG=1 for the traceback and please report it)",
              file=sys.stderr)
        return 1
