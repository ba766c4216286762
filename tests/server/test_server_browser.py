"""The web UI in real headless Chromium (Debian's, driven by Playwright): token, model list, the form generated
from the card, upload, live progress, and the NiiVue viewer showing the result in the card's label colour.

The screenshots are kept under artifacts/server/ (gitignored) for CI to collect."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from server_helpers import TOKEN, ServerProcess, write_crops

from dicom_series import UID_ROOT, write_series
from plane_networks import plane_mean_card
from realparts import need, require

CHROMIUM = Path("/usr/bin/chromium")
FAST = ["--runtime", "openvino", "--precision", "fast"]
WANTED = f"{UID_ROOT}.9.1"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "server"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, shared_home: Path) -> Iterator[ServerProcess]:
    from deepinfer.server._web import NIIVUE

    require(NIIVUE.is_file(), "NiiVue is installed by scripts/setup (npm ci in src/deepinfer/server/web)")
    folder = tmp_path_factory.mktemp("server-ui")
    # OpenVINO in fast mode: the page is under test, not the runtime; a TAPS window takes half the exact time
    process = ServerProcess(folder / "data", shared_home, workers=1, extra=FAST).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def crop(colin27: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The T2-like crop A and its threshold, written once for the module's two TAPS jobs."""
    return write_crops(colin27, tmp_path_factory.mktemp("crops"))["A"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Chromium with a fresh temporary profile (Playwright makes one per launch)."""
    require(CHROMIUM.is_file(), "headless Chromium at /usr/bin/chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(False, "the playwright Python package (pip install playwright; never 'playwright install')")
        raise
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def label_pixels(png: bytes, colour: str, tolerance: int = 12) -> int:
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    target = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels - target).max(axis=2) <= tolerance).sum())


def overlay_shown(page: Any, colour: str, path: Path, timeout: float = 30.0) -> bytes:
    """Screenshots of the viewer until it shows at least 50 pixels in ``colour`` (the overlay drawn; a repaint
    follows the opacity change) or ``timeout`` seconds have passed: the last screenshot."""
    deadline = time.monotonic() + timeout
    while True:
        canvas: bytes = page.locator("#viewer").screenshot(path=str(path))
        if label_pixels(canvas, colour) >= 50 or time.monotonic() > deadline:
            return canvas
        page.wait_for_timeout(100)


def test_upload_run_and_view_the_overlay(server: ServerProcess, browser: object, crop: tuple[Path, float]) -> None:
    from deepinfer.card import LabelmapMember
    from deepinfer.registry import default_registry

    card = default_registry().get("prostate-taps")
    colour = next(o for o in card.outputs if isinstance(o, LabelmapMember)).labels[0].color
    volume, threshold = crop
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 1000})  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url + "/")

    page.wait_for_selector("#token-form:not([hidden])", timeout=30_000)  # the server has a token: the page asks
    page.fill("#token", TOKEN)
    page.click("#token-form button")
    page.wait_for_selector("body[data-models=loaded]", timeout=30_000)
    assert "TAPS prostate gland segmentation" in page.inner_text("#model-table")

    page.click("button[data-model=prostate-taps]")
    assert page.get_attribute("#input-T2", "type") == "file"
    for parameter in card.parameters:  # the form comes from the card, as the CLI's options do
        control = f"#param-{parameter.name}"
        assert float(page.input_value(control)) == parameter.default, parameter.name
        assert float(page.get_attribute(control, "min") or "nan") == parameter.minimum  # type: ignore[union-attr]
        assert float(page.get_attribute(control, "max") or "nan") == parameter.maximum  # type: ignore[union-attr]

    page.set_input_files("#input-T2", str(volume))
    page.fill("#param-threshold", str(threshold))
    page.click("#submit")
    page.wait_for_selector("body[data-state=succeeded]", timeout=300_000)
    assert page.eval_on_selector("#upload-progress", "e => e.value") == 1
    assert page.eval_on_selector("#job-progress", "e => e.value") == 1
    page.wait_for_selector("body[data-viewer=overlay]", timeout=60_000)
    assert "prostate" in page.inner_text("#legend")
    files = page.eval_on_selector_all("#downloads button", "buttons => buttons.map(b => b.dataset.file)")
    assert {"ProstateMask.nii.gz", "ProstateProbability.nii.gz", "ProstateMask.statistics.csv"} <= set(files)
    assert "prostate" in page.inner_text("table.statistics[data-output=ProstateMask]")

    page.fill("#opacity", "1")
    page.dispatch_event("#opacity", "input")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    canvas = overlay_shown(page, colour, ARTIFACTS / "web-ui-viewer.png")
    page.screenshot(path=str(ARTIFACTS / "web-ui.png"), full_page=True)
    assert label_pixels(canvas, colour) >= 50, "the viewer does not show the overlay in the card's colour"

    page.evaluate("DeepinferViewer.renderScores(document.getElementById('scores'), {benign: 0.2, malignant: 0.8})")
    widths = page.eval_on_selector_all("#scores rect", "bars => bars.map(b => Number(b.getAttribute('width')))")
    assert len(widths) == 2 and widths[1] > widths[0]
    assert errors == []


def signed_in(browser: object, server: ServerProcess) -> tuple[Any, list[str]]:
    """A new page of ``server`` past its token form, with its list of models loaded; the page's script errors."""
    errors: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 1000})  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url + "/")
    page.wait_for_selector("#token-form:not([hidden])", timeout=30_000)
    page.fill("#token", TOKEN)
    page.click("#token-form button")
    page.wait_for_selector("body[data-models=loaded]", timeout=30_000)
    return page, errors


def test_a_dicom_zip_of_two_series_asks_for_one_then_runs(
    server: ServerProcess, browser: object, crop: tuple[Path, float], tmp_path: Path
) -> None:
    """A zip holding two series: the job fails naming both; with one named in the form, and the result asked as
    DICOM, it runs, and the page offers the SEG, its SR and the statistics (a browser cannot show a zipped series
    in the viewer, and says so)."""
    volume, threshold = crop
    image = sitk.Cast(sitk.ReadImage(str(volume)), sitk.sitkInt16)
    series = tmp_path / "study"
    write_series(image, series / "t2", WANTED, description="T2 axial")
    write_series(image[:, :, :8], series / "short", f"{UID_ROOT}.9.2", description="localizer")
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        for file in sorted(series.rglob("*.dcm")):
            bundle.write(file, file.relative_to(series).as_posix())
    page, errors = signed_in(browser, server)
    page.click("button[data-model=prostate-taps]")
    page.set_input_files("#input-T2", str(archive))
    page.fill("#param-threshold", str(threshold))
    page.click("#submit")
    page.wait_for_selector("body[data-state=failed]", timeout=120_000)
    assert WANTED in page.inner_text("#error") and f"{UID_ROOT}.9.2" in page.inner_text("#error")
    page.fill("#series", WANTED)
    page.select_option("#output-format", ".dcm")
    page.click("#submit")
    page.wait_for_selector("body[data-state=succeeded]", timeout=300_000)
    page.wait_for_selector("#viewer-note:not([hidden])", timeout=30_000)
    files = page.eval_on_selector_all("#downloads button", "buttons => buttons.map(b => b.dataset.file)")
    assert {"ProstateMask.dcm", "ProstateMask.sr.dcm", "ProstateMask.statistics.csv"} <= set(files), files
    assert "ProstateProbability.nii.gz" in files  # (a probability map is not a labelmap: NIfTI beside the SEG)
    assert errors == []


@pytest.fixture(scope="module")
def plane_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose registry has a small real plane-wise classifier (each axial plane's mean and its negative)."""
    from deepinfer.cli import run_cli

    need("onnx", "the test classifier is built with onnx")
    work = tmp_path_factory.mktemp("server-planes")
    (work / "cards").mkdir()
    plane_mean_card(work / "cards")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEEPINFER_HOME", str(work / "home"))
        assert run_cli(["registry", "add", "local", str(work / "cards")]) == 0
    process = ServerProcess(work / "data", work / "home", workers=1).start()
    yield process
    process.stop()


def test_plane_scores_chart_marks_the_best_plane_and_a_click_shows_a_plane(
    plane_server: ServerProcess, browser: object, colin27: Path, tmp_path: Path
) -> None:
    """A classification job: the page draws each class's score against the axial planes' position, marks the
    decision's best plane (the brightest plane: the classifier's score is the plane's mean), opens the input at
    that plane, and a click on another plane's point moves the viewer there."""
    volume = tmp_path / "crop.nii.gz"
    image = sitk.ReadImage(str(colin27))[40:140, 50:170, 60:90]
    sitk.WriteImage(image, str(volume))
    means = sitk.GetArrayFromImage(image).reshape(image.GetDepth(), -1).mean(axis=1)  # one per axial plane k
    brightest = int(np.argmax(means))
    page, errors = signed_in(browser, plane_server)
    page.click("button[data-model=plane-mean]")
    page.set_input_files("#input-image", str(volume))
    page.click("#submit")
    page.wait_for_selector("body[data-viewer=planes]", timeout=120_000)
    assert page.locator("#scores circle[data-class=mean]").count() == image.GetDepth() == 30
    assert page.get_attribute("#scores line.best-plane", "data-index") == str(brightest)
    z = [image.TransformIndexToPhysicalPoint((0, 0, k))[2] for k in range(image.GetDepth())]
    assert page.evaluate("DeepinferViewer.crosshairLps()")[2] == pytest.approx(z[brightest], abs=0.5)
    other = (brightest + 10) % image.GetDepth()
    page.click(f"#scores circle[data-class=mean][data-index='{other}']")
    assert page.evaluate("DeepinferViewer.crosshairLps()")[2] == pytest.approx(z[other], abs=0.5)
    assert errors == []


def test_a_job_that_lost_its_ray_worker_says_so(
    server: ServerProcess, browser: object, crop: tuple[Path, float]
) -> None:
    """On a ``serve --ray`` server a job view lists each attempt whose Ray worker was lost (tests/server/
    test_server_ray.py loses real ones). Here this server's own job view passes through the page's network with
    one such attempt added, as a Ray server reports it (the event stream goes through unchanged): the page says
    so under the job's state, and says nothing before."""
    lost = "attempt 1: its Ray actor was lost (the node running it died)"

    def with_a_loss(route: Any) -> None:  # GET /api/jobs/ID: the job's view, which the page reads at its end
        response = route.fetch()
        route.fulfill(response=response, json={**response.json(), "lost": [lost]})

    volume, threshold = crop
    page, errors = signed_in(browser, server)
    assert page.is_hidden("#job-lost")
    page.route("**/api/jobs/*", with_a_loss)  # not .../events: the stream goes through as the server sends it
    page.click("button[data-model=prostate-taps]")
    page.set_input_files("#input-T2", str(volume))
    page.fill("#param-threshold", str(threshold))
    page.click("#submit")
    page.wait_for_selector("body[data-state=succeeded]", timeout=300_000)
    # the events stream ends the job; the page then reads its view (GET /api/jobs/ID), which carries the loss
    page.wait_for_selector("#job-lost:not([hidden])", timeout=60_000)
    assert page.inner_text("#job-lost") == f"Its Ray worker was lost once; the job ran again: {lost}"
    assert errors == []
