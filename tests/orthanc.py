"""A real Orthanc PACS (Debian ``orthanc`` + ``orthanc-dicomweb``) on 127.0.0.1 for the DICOMweb tests: its own
configuration, storage and index in a temporary folder, HTTP basic authentication on, started by the test and
stopped by its PID (import ``from orthanc import ...``)."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from realparts import require

ORTHANC = "/usr/sbin/Orthanc"
PLUGINS = Path("/usr/share/orthanc/plugins")
USER, PASSWORD = "deepinfer", "test-secret"
READY_S = 30.0


@dataclass(frozen=True)
class Pacs:
    port: int
    pid: int

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb_root(self) -> str:
        return f"dicomweb://127.0.0.1:{self.port}/dicom-web"

    def request(self, method: str, path: str, body: bytes | None = None) -> Any:
        """Orthanc's own REST API (not DICOMweb): the independent view of what the PACS holds."""
        token = b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        request = urllib.request.Request(
            self.rest + path, data=body, method=method, headers={"Authorization": f"Basic {token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def upload(self, files: list[Path]) -> None:
        for path in files:
            self.request("POST", "/instances", path.read_bytes())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_orthanc(folder: Path) -> Iterator[Pacs]:
    """Start Orthanc with its DICOMweb plugin; yield when its REST API answers; stop it by its PID."""
    require(Path(ORTHANC).is_file() and (PLUGINS / "libOrthancDicomWeb.so").is_file(), "needs Debian orthanc")
    folder.mkdir(parents=True, exist_ok=True)
    port, dicom_port = _free_port(), _free_port()
    config = {
        "Name": "deepinfer-test",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "HttpPort": port,
        "DicomPort": dicom_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [str(PLUGINS / "libOrthancDicomWeb.so")],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    (folder / "orthanc.json").write_text(json.dumps(config), encoding="utf-8")
    with (folder / "orthanc.log").open("wb") as log:
        process = subprocess.Popen([ORTHANC, str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    pacs = Pacs(port, process.pid)
    try:
        _wait_ready(pacs, process, folder)
        yield pacs
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder / "storage", ignore_errors=True)


def _wait_ready(pacs: Pacs, process: subprocess.Popen[bytes], folder: Path) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (folder / "orthanc.log").read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"Orthanc exited with code {process.returncode}:\n{log}")
        with contextlib.suppress(urllib.error.URLError, ConnectionError, OSError):
            pacs.request("GET", "/system")
            return
        time.sleep(0.1)
    raise RuntimeError(f"Orthanc did not answer within {READY_S} s")
