"""labgate as a plant runs it — `labgate serve`, a channel worker, the relay — and the simulated
MES and LIMS, each a separate process, on a PostgreSQL database of the test's own (a copy of a
demo plant seeded once per session) and, for AMQP, a RabbitMQ vhost of its own."""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2 as httpx
import psycopg
from rich.console import Console
from typer.testing import CliRunner

from labgate.adapters.store.migrate import upgrade
from labgate.bootstrap import bootstrap
from labgate.compliance.envelope import generate_keypair
from labgate.config import Settings
from labgate.domain.commands import Context
from labgate.domain.interface_commands import RegisterSourceKey
from labgate.entrypoints.cli import demo
from labgate.entrypoints.cli.main import app as cli
from sshd import free_port

LABGATE = str(Path(sys.executable).parent / "labgate")
LABGATE_SIM = str(Path(sys.executable).parent / "labgate-sim")  # packages/labgate-sim
PG_ADMIN = os.environ.get("LABGATE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("LABGATE_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")


def pg_url(database: str) -> str:
    """The SQLAlchemy URL of a database on the test server."""
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{database}"


def pg_admin(sql: str) -> None:
    """One statement as the server's administrator, outside any transaction."""
    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        connection.execute(sql)  # type: ignore[arg-type]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any LABGATE_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABGATE_")}
    return {**env, **extra}


def labgate(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    """Run one labgate command to its end; its output (it must succeed)."""
    done = subprocess.run([LABGATE, *args], env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip
    assert done.returncode == 0, f"labgate {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout


def write_key(folder: Path, kid: str) -> dict[str, Any]:
    """A key pair as `labgate keys generate` writes it; the public JWK (without its kid)."""
    private, public = generate_keypair()
    folder.mkdir(parents=True, exist_ok=True)
    for half, jwk in (("private", private), ("public", public)):
        (folder / f"{kid}.{half}.jwk.json").write_text(json.dumps({**jwk, "kid": kid}))
    return public


@dataclass(frozen=True)
class Template:
    """A migrated database with the demo plant, the credentials the seed printed once, and the
    key pairs of labgate and of the simulators (theirs registered)."""

    database: str
    credentials: dict[str, str]
    keys: Path


@contextmanager
def demo_template(folder: Path) -> Iterator[Template]:
    """Seed the demo plant once, in this process (no external LIMS yet: its samples stay with
    the native lab, so nothing is owed to the simulated LIMS)."""
    name = f"labgate_simtpl_{secrets.token_hex(5)}"
    pg_admin(f'CREATE DATABASE "{name}"')
    try:
        upgrade(pg_url(name))
        hub = bootstrap(Settings(database_url=pg_url(name), demo=True))
        try:
            credentials = demo.seed(hub, Console(file=io.StringIO()))
            write_key(folder, "labgate-e2e")
            since = datetime.now(UTC) - timedelta(days=1)
            for source in ("mes", "lims"):
                public = write_key(folder, f"{source}-sim-1")
                kid, why = f"{source}-sim-1", "CR-SIM: simulator key"
                command = RegisterSourceKey(Context("admin"), source, kid, public, since, None, why)
                hub.bus.handle(command)
        finally:
            hub.close()
        yield Template(name, credentials, folder)
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def vhost() -> Iterator[str]:
    """A RabbitMQ vhost of its own, for guest; its URL. Deleted afterwards."""
    name = f"labgate-sim-{secrets.token_hex(4)}"

    def ctl(*args: str) -> None:
        done = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"rabbitmqctl {args}: {done.stdout}{done.stderr}"

    ctl("add_vhost", name)
    try:
        ctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield AMQP_URL.rsplit("/", 1)[0] + "/" + quote(name, safe="")
    finally:
        ctl("delete_vhost", name)


def audit_verify(env: dict[str, str]) -> str:
    """`labgate audit verify` (in this process: it is the command, not its start-up, on test);
    its output. It must exit 0."""
    done = CliRunner().invoke(cli, ["audit", "verify"], env=env)
    assert done.exit_code == 0, done.output
    return done.output


@dataclass
class Proc:
    """One labgate process, its output in a file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        """Everything it printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    @property
    def alive(self) -> bool:
        """Still running."""
        return self.process.poll() is None

    def wait_for(self, text: str, seconds: float = 30) -> None:
        """Until `text` shows in its output; fail if it exits or takes longer."""
        deadline = time.monotonic() + seconds
        while text not in self.output():
            assert self.alive, f"{self.name} exited:\n{self.output()[-4000:]}"
            assert time.monotonic() < deadline, f"{self.name}: no {text!r}:\n{self.output()}"
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Signal it and wait (killed after 30 s); its exit code."""
        if self.alive:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(timeout=30)


def wait_until(what: str, done: Callable[[], bool], procs: list[Proc], seconds: float) -> None:
    """Poll `done`; fail after `seconds`, or as soon as one of `procs` dies, with their logs."""
    deadline = time.monotonic() + seconds
    while not done():
        dead = [p.name for p in procs if not p.alive]
        if dead or time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.name}\n{p.output()[-3000:]}" for p in procs)
            raise AssertionError(
                f"{what}: {'exited: ' + str(dead) if dead else 'too slow'}\n{logs}"
            )
        time.sleep(0.2)


def journal(path: Path, event: str | None = None) -> list[dict[str, Any]]:
    """A simulator's journal lines (of one event), as far as written."""
    if not path.exists():
        return []
    text = path.read_text()
    complete = text[: text.rfind("\n") + 1]  # a line still being written is read next time
    lines = [json.loads(line) for line in complete.splitlines() if line.strip()]
    return [line for line in lines if event is None or line["event"] == event]


@dataclass
class Hub:
    """A running labgate on its own database: start its processes, call its API."""

    folder: Path
    database: str
    credentials: dict[str, str]
    env: dict[str, str]
    procs: list[Proc] = field(default_factory=list)
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        """labgate's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def labgate_key(self) -> Path:
        """labgate's public key file, for the simulators."""
        return self.folder / "keys" / "labgate-e2e.public.jwk.json"

    def start(self, name: str, *args: str, program: str = LABGATE, **env: str) -> Proc:
        """Start `labgate ARGS` (or another program) with the hub's environment and `env`."""
        log = self.folder / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen([program, *args], env={**self.env, **env}, stdout=out,
                                       stderr=subprocess.STDOUT)  # fmt: skip
        proc = Proc(name, process, log)
        self.procs.append(proc)
        return proc

    def serve(self) -> Proc:
        """Start `labgate serve`; `wait_serving` waits until it answers."""
        return self.start("serve", "serve", "--port", str(self.port))

    def wait_serving(self, seconds: float = 60) -> None:
        """Until the API answers."""
        [proc] = [p for p in self.procs if p.name == "serve"]
        deadline = time.monotonic() + seconds
        while True:
            try:
                if httpx.get(f"{self.url}/api/v1/schemas", timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            assert proc.alive and time.monotonic() < deadline, proc.output()
            time.sleep(0.2)

    def sim(self, kind: str, port: int, *args: str, **env: str) -> Proc:
        """Start `labgate-sim KIND`, signing with its registered key; its journal is KIND.jsonl."""
        key = self.folder / "keys" / f"{kind}-sim-1.private.jwk.json"
        proc = self.start(f"sim-{kind}", kind, "--url", self.url, "--key-file", str(key),
                          "--labgate-key", str(self.labgate_key), "--port", str(port),
                          "--out", str(self.folder / f"{kind}.jsonl"), *args, program=LABGATE_SIM,
                          LABGATE_SIM_API_KEY=self.credentials[kind], **env)  # fmt: skip
        return proc

    def token(self, user: str) -> dict[str, str]:
        """Bearer headers for a demo person."""
        form = {"username": user, "password": self.credentials[user]}
        answer = httpx.post(f"{self.url}/api/v1/token", data=form, timeout=30)
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def quarantine(self) -> list[dict[str, Any]]:
        """Every quarantined message, as the auditor sees it."""
        answer = httpx.get(f"{self.url}/api/v1/quarantine", params={"limit": 500},
                           headers=self.token("auditor"), timeout=30)  # fmt: skip
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def stop_all(self) -> None:
        """Stop every process still running, newest first."""
        for proc in reversed(self.procs):
            proc.stop(signal.SIGINT if proc.name == "relay" else signal.SIGTERM)


@contextmanager
def running_hub(template: Template, folder: Path) -> Iterator[Hub]:
    """A copy of the template database and labgate's environment; everything stopped and the
    database dropped afterwards."""
    name = f"labgate_sim_{secrets.token_hex(5)}"
    pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template.database}"')
    keys = folder / "keys"  # a copy: each simulator keeps its sequence numbers beside its key
    shutil.copytree(template.keys, keys)
    env = clean_env(
        LABGATE_DATABASE_URL=pg_url(name),
        LABGATE_DEMO="1",
        LABGATE_TOKEN_SECRET=secrets.token_urlsafe(32),
        LABGATE_EXTERNAL_LIMS="1",
        LABGATE_SIGNING_KEY_FILE=str(keys / "labgate-e2e.private.jwk.json"),
        LABGATE_PACK_POLL_SECONDS="0.2",
    )
    hub = Hub(folder, name, template.credentials, env)
    try:
        yield hub
    finally:
        hub.stop_all()
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
