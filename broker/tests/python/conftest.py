"""Starts the real kafka-lab-broker binary for each test, on a free port with its own data dir."""

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _broker_binary() -> str:
    explicit = os.environ.get("KAFKA_LAB_BROKER_BIN")
    if explicit:
        return explicit
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("debug", "release"):
        candidate = target / profile / "kafka-lab-broker"
        if candidate.exists():
            return str(candidate)
    raise RuntimeError("kafka-lab-broker is not built: run `cargo build -p kafka-lab-broker` first")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A running broker process; `bootstrap` is what clients connect to. With `sasl`, a
    SASL_PLAINTEXT listener on `sasl_bootstrap` joins the PLAINTEXT one."""

    def __init__(self, tmp: Path, overrides: list[str], sasl: bool = False):
        self.port = _free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.sasl_bootstrap = f"127.0.0.1:{_free_port()}" if sasl else None
        self.log_path = tmp / "broker.log"
        listeners = f"PLAINTEXT://127.0.0.1:{self.port}"
        if sasl:
            listeners += f",SASL_PLAINTEXT://{self.sasl_bootstrap}"
        self._args = [
            _broker_binary(),
            "--override", f"listeners={listeners}",
            "--override", f"log.dirs={tmp / 'data'}",
            "--override", "group.initial.rebalance.delay.ms=0",
        ]
        for o in overrides:
            self._args += ["--override", o]
        self._start()

    def _start(self):
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self._args, stdout=self._log, stderr=self._log)
        deadline = time.time() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"broker exited: {self.log_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("broker did not start listening within 30 s")
                time.sleep(0.02)

    def restart(self):
        """Stops the broker and starts it again on the same ports and data."""
        self.stop()
        self._start()

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)
        self._log.close()


def _serve(tmp_path, request, sasl):
    b = Broker(tmp_path, getattr(request, "param", []), sasl=sasl)
    yield b
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        print(b.log_path.read_text()[-5000:])
    b.stop()


@pytest.fixture
def broker(tmp_path, request):
    """A broker with a PLAINTEXT listener; `param` is a list of `--override`s."""
    yield from _serve(tmp_path, request, sasl=False)


@pytest.fixture
def sasl_broker(tmp_path, request):
    """A broker with a SASL_PLAINTEXT listener (named SASL_PLAINTEXT) too; PLAIN users come
    from a `listener.name.sasl_plaintext.plain.sasl.jaas.config` override, SCRAM users from
    the admin APIs."""
    yield from _serve(tmp_path, request, sasl=True)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)
