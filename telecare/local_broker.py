"""A private Mosquitto started from the repository's config, for tests, benchmarks and demos."""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

_MOSQUITTO_DIR = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto"
TEMPLATE = _MOSQUITTO_DIR / "local.conf.template"
PRODUCTION_CONFIG = _MOSQUITTO_DIR / "mosquitto.conf"


class BrokerError(RuntimeError):
    """The local broker could not be started."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _refuse_taken_port(*, port: int) -> None:
    """Fail when something already listens on `port`: a broker of someone else's would answer our
    clients, and two systems' traffic would mix silently."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As mosquitto binds: connections of a previous run waiting out TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise BrokerError(f"port {port} is already in use (another broker?); refusing to share it: choose a free"
                              " --broker-port or stop what listens there") from exc


def _wait_for_port(*, port: int, timeout_s: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            # Also the late loser of a race for the port: whoever answers there is not our broker.
            raise BrokerError(f"mosquitto exited (code {process.returncode}) before listening on port {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise BrokerError(f"mosquitto did not listen on port {port} within {timeout_s} s")


def production_config(*, config_dir: Path, data_dir: Path, port: int) -> str:
    """The shipped production config, changed only where a test must: folders, port, log, user.

    Everything that decides who may connect and what they may do (TLS, no anonymous, passwd, acl,
    user names as session ids) is used exactly as shipped.
    """
    text = PRODUCTION_CONFIG.read_text(encoding="utf-8")
    if "\nlistener 8883\n" not in text:
        raise BrokerError("deploy/mosquitto/mosquitto.conf no longer has its 'listener 8883' line")
    text = (text.replace("/mosquitto/config/", f"{config_dir}/").replace("/mosquitto/data/", f"{data_dir}/")
            .replace("\nlistener 8883\n", f"\nlistener {port} 127.0.0.1\n")
            .replace("log_dest stdout", f"log_dest file {data_dir}/mosquitto.log"))
    # Run as whoever started it (as root it would otherwise switch to the mosquitto user).
    return text + f"\nuser {getpass.getuser()}\n"


@dataclass
class LocalBroker:
    """One mosquitto process with persistence in `data_dir`; restartable, so sessions survive."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # A whole config to run instead of the local template (e.g. `production_config(...)`).
    config_text: str | None = None

    @property
    def url(self) -> str:
        """The MQTT URL clients use to reach this broker."""
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start mosquitto and wait until it accepts connections."""
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise BrokerError("mosquitto is not installed (apt-get install mosquitto)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "mosquitto.conf"
        config.write_text(
            self.config_text or TEMPLATE.read_text(encoding="utf-8").format(
                port=self.port, data_dir=self.data_dir, user=getpass.getuser()
            ),
            encoding="utf-8",
        )
        _refuse_taken_port(port=self.port)
        process = subprocess.Popen([binary, "-c", str(config)], stdin=subprocess.DEVNULL)
        try:
            _wait_for_port(port=self.port, timeout_s=10, process=process)
        except BrokerError:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=5)
            raise
        self.process = process

    def stop(self, *, hard: bool = False) -> None:
        """Stop the broker: gracefully (it saves its persistence file) or with SIGKILL."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        self.process = None

    def restart(self) -> None:
        """Graceful stop then start on the same port with the same persistence."""
        self.stop()
        self.start()

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def mosquitto_available() -> bool:
    """Whether a mosquitto binary can be found."""
    return shutil.which("mosquitto") is not None or os.path.exists("/usr/sbin/mosquitto")
