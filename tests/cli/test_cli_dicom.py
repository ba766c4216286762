"""``deepinfer run`` on DICOM folders whose slices break the grid: exit 3, a message naming the folder and the
problem, and no output written (the refusal comes before any network is loaded)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deepinfer.cli import run_cli
from dicom_series import BROKEN_SERIES


@pytest.mark.parametrize("kind", sorted(BROKEN_SERIES))
def test_a_broken_series_exits_3_with_a_clear_message(
    kind: str, colin27: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build, match = BROKEN_SERIES[kind]
    folder = build(tmp_path / "input")
    out = tmp_path / "out"
    out.mkdir()
    code = run_cli(["run", "brain-extraction-deepbet", "-i", str(folder), "-o", str(out / "m.nii.gz"),
                    "--progress", "none"])  # fmt: skip
    message = " ".join(capsys.readouterr().err.split())  # Rich wraps long lines
    assert code == 3, message
    assert f"error: {folder}" in message
    assert re.search(match, message), message
    assert not any(out.iterdir())


@pytest.mark.parametrize(
    ("series", "words"),
    [("T2=1.2.3", "--series T2=1.2.3: give one series per input"), ("1.2.3", "is not a DICOM folder or zip")],
)
def test_series_for_no_dicom_input_is_a_usage_error(
    series: str, words: str, colin27: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_cli(["run", "brain-extraction-deepbet", "-i", str(colin27), "-o", str(tmp_path / "m.nii.gz"),
                    "--series", series, "--progress", "none"])  # fmt: skip
    assert code == 2
    assert words in " ".join(capsys.readouterr().err.split())
    assert not any(tmp_path.iterdir())
