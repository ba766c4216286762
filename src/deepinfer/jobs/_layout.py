"""The server's data folder: ``jobs.sqlite3``, ``jobs/<id>/inputs``, ``jobs/<id>/outputs`` and ``uploads/`` (uploads
being received; left-overs of a killed server are removed at start).

Every path is built from a job id that matched :data:`JOB_ID` and from names the server chose (card member names
and a supported suffix); nothing a client sends becomes part of a path.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from deepinfer._config import deepinfer_home
from deepinfer.jobs._records import JOB_ID, Job

UPLOAD_SUFFIXES: tuple[str, ...] = (".nii.gz", ".nii", ".nrrd", ".mha")
"""Single-file image formats a job takes and writes (a header with a data file cannot be uploaded as one file)."""
INPUT_SUFFIXES: tuple[str, ...] = (*UPLOAD_SUFFIXES, ".zip")
"""What a job's input may be: an image file, or a DICOM series (or several, with the series chosen) zipped."""

_PATH_START = re.compile(r"(?<![\w.:/~-])/")
_PATH_END = re.compile(r"(?=[\s:'\",;)\]]|$)")
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s/:'\"]+/)+([^\s/:'\"]*)")


def scrub_paths(message: str, roots: Iterable[Path] = ()) -> str:
    """``/srv/data/jobs/…/inputs/T2.nii.gz: not an image`` → ``T2.nii.gz: not an image``.

    Where a path ends cannot be told from the text alone when a folder name has a space (``/home/a/my data/…``),
    so the folders the server's paths start from — ``roots``, the data folder, the deepinfer home, the user's home,
    the temporary folder and the working folder — are cut first, whatever they contain; what is left of a path
    below them consists of names the server chose, which the pattern then reduces to the last name."""
    message = _reduce_existing_paths(message)
    for root in _known_roots(roots):
        message = re.sub(re.escape(root) + r"(?=/)", "", message)
        message = re.sub(re.escape(root) + r"(?![^\s:'\"])", PurePosixPath(root).name, message)
    return _ABSOLUTE_PATH.sub(r"\1", message)


def _reduce_existing_paths(message: str) -> str:
    """Each absolute path with a space that the file system proves one path, as long as it goes → its last name."""
    parts: list[str] = []
    position = 0
    while (start := _PATH_START.search(message, position)) is not None:
        begin, best = start.start(), None
        for count, end in enumerate(_PATH_END.finditer(message, begin + 1)):
            candidate = message[begin : end.start()]
            if count > 64 or len(candidate) > 4096 or "\n" in candidate:
                break
            if " " in candidate and _proven(candidate):
                best = end.start()
        if best is None:
            parts.append(message[position : begin + 1])
            position = begin + 1
            continue
        parts += [message[position:begin], os.path.basename(message[begin:best])]
        position = best
    return "".join(parts) + message[position:]


def _proven(candidate: str) -> bool:
    """The file system says this text with a space is one path: it exists, or its folder (with a space) does."""
    folder = os.path.dirname(candidate)
    return os.path.lexists(candidate) or (" " in folder and os.path.isdir(folder))


def _known_roots(extra: Iterable[Path]) -> list[str]:
    candidates = [*extra, deepinfer_home(), Path.home(), Path(tempfile.gettempdir()), Path.cwd()]
    found: set[str] = set()
    for path in candidates:
        for form in (path, path.expanduser().resolve()):
            text = str(form).rstrip("/")
            if text.count("/") >= 1 and len(text) > 1 and text.startswith("/"):
                found.add(text)
    return sorted(found, key=len, reverse=True)  # the longest first: a root inside another one is cut whole


def upload_suffix(filename: str, suffixes: tuple[str, ...] = INPUT_SUFFIXES) -> str | None:
    """The supported suffix a client's file name ends with (``.nii.gz`` counts as one), or None."""
    name = filename.lower()
    return next((suffix for suffix in suffixes if name.endswith(suffix)), None)


def display_name(filename: str, fallback: str) -> str:
    """A client's file name reduced to something safe to show (never used as a path)."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable())[:200].strip()
    return cleaned or fallback


class JobFolders:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir.expanduser().resolve()
        self.jobs = self.root / "jobs"
        self.uploads = self.root / "uploads"
        self.database = self.root / "jobs.sqlite3"

    def prepare(self) -> None:
        """Create the folders; remove uploads a killed server left half-received."""
        self.jobs.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.uploads, ignore_errors=True)
        self.uploads.mkdir(parents=True, exist_ok=True)

    def job_dir(self, job_id: str) -> Path:
        if not JOB_ID.match(job_id):
            raise KeyError(job_id)
        return self.jobs / job_id

    def new_upload(self) -> Path:
        """A fresh folder for one request's files, inside ``uploads/``."""
        return Path(tempfile.mkdtemp(prefix="upload-", dir=self.uploads))

    def adopt(self, upload: Path, job_id: str) -> None:
        """Move an accepted upload to the job's ``inputs`` folder (one rename) and create its ``outputs``."""
        folder = self.job_dir(job_id)
        folder.mkdir()
        os.replace(upload, folder / "inputs")
        (folder / "outputs").mkdir()

    def input_path(self, job: Job, name: str) -> Path:
        return self._inside(self.job_dir(job.id) / "inputs" / job.inputs[name].file)

    def output_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "outputs"

    def output_path(self, job: Job, name: str) -> Path:
        return self._inside(self.output_dir(job.id) / job.outputs[name])

    def output_files(self, job_id: str) -> list[str]:
        """Every file a finished run wrote into its outputs folder (outputs, provenance and statistics sidecars,
        a SEG's SR, the picture), by name; the only names ``/files/{name}`` serves."""
        folder = self.output_dir(job_id)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.is_symlink() and p.name[0] != ".")

    def clear_outputs(self, job_id: str) -> None:
        """Empty the outputs of an attempt that did not finish, before the job runs again."""
        folder = self.output_dir(job_id)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)

    def _inside(self, path: Path) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.jobs) or path.is_symlink():
            raise KeyError(path.name)
        return resolved

    def scrub(self, message: str) -> str:
        """A message safe to send to a client: every absolute path reduced to its last name."""
        return scrub_paths(message, [self.root])

    def free_bytes(self) -> int:
        """Free space on the data folder's file system (the one seam for the free-space checks)."""
        return shutil.disk_usage(self.root).free
