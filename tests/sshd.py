"""A private OpenSSH sshd on a free loopback port, for the SFTP tests: its own host key, one
generated client key, internal-sftp, and nothing read from the machine's /etc/ssh."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"  # absolute: sshd refuses to re-exec itself from a relative path
PRIVSEP_DIR = Path("/run/sshd")  # compiled into Debian's sshd; needed when it runs as root


@dataclass(frozen=True)
class Sshd:
    """Where the test sshd listens and the files a client needs to reach it."""

    host: str
    port: int
    username: str
    client_key: Path
    known_hosts: Path
    home: Path  # a scratch folder tests may use as SFTP roots


def keygen(path: Path) -> Path:
    """Write a new passphrase-less ed25519 key pair at `path` (and `path`.pub)."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "labgate-test", "-f", str(path)],
        check=True,
    )
    return path


def known_hosts_line(port: int, key: Path) -> str:
    """The known_hosts entry for 127.0.0.1:`port` presenting the public half of `key`."""
    kind, blob = Path(f"{key}.pub").read_text().split()[:2]
    return f"[127.0.0.1]:{port} {kind} {blob}\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _config(base: Path, port: int, user: str) -> Path:
    lines = [
        f"ListenAddress 127.0.0.1:{port}",
        f"HostKey {base / 'host_ed25519'}",
        f"PidFile {base / 'sshd.pid'}",
        f"AuthorizedKeysFile {base / 'authorized_keys'}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PermitRootLogin prohibit-password",
        f"AllowUsers {user}",
        "Subsystem sftp internal-sftp",
        "LogLevel VERBOSE",
    ]
    path = base / "sshd_config"
    path.write_text("\n".join(lines) + "\n")
    return path


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}:\n{log.read_text()}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on 127.0.0.1:{port} within 10 s:\n{log.read_text()}")


@contextmanager
def running_sshd(base: Path) -> Iterator[Sshd]:
    """Start sshd under `base`, yield how to reach it, and stop it on leaving."""
    if not Path(SSHD).exists():
        raise RuntimeError(f"{SSHD} is missing; run scripts/ensure-services.sh to install it.")
    if os.geteuid() == 0:
        PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    user, port = getpass.getuser(), free_port()
    keygen(base / "host_ed25519")
    client_key = keygen(base / "client_ed25519")
    (base / "authorized_keys").write_text(Path(f"{client_key}.pub").read_text())
    known_hosts = base / "known_hosts"
    known_hosts.write_text(known_hosts_line(port, base / "host_ed25519"))
    home = base / "home"
    home.mkdir()
    log = base / "sshd.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(_config(base, port, user))],
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_listening(process, port, log)
            yield Sshd("127.0.0.1", port, user, client_key, known_hosts, home)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
