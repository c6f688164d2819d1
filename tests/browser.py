"""Headless Chromium over the DevTools protocol (CDP), with only ``websockets`` (a Streamlit
dependency): serve the leaderboard, load it, wait until Streamlit has rendered, read the page's
text and save a screenshot. Used by ``tests/test_leaderboard_e2e.py`` and, as a script, to take
the README's screenshot::

    python -m tests.browser sqlite:////tmp/runs/mlflow.db docs/leaderboard.png
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-allow-origins=*",
]
#: Streamlit shows this element while the script runs; rendered = it is gone
RUNNING = '[data-testid="stStatusWidget"]'


def chromium() -> str | None:
    """The Chromium executable on PATH (Debian: ``chromium``), or ``None``."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers 200; raise if ``proc`` exits or ``timeout`` passes."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer in {timeout:.0f} s")


@contextmanager
def leaderboard(tracking_uri: str, port: int | None = None) -> Iterator[str]:
    """``kdbench leaderboard --tracking-uri URI --port PORT`` as a subprocess; yields its URL
    once Streamlit's health check answers, stops it afterwards."""
    port = port or free_port()
    cmd = [
        sys.executable,
        "-m",
        "benchmark.cli",
        "leaderboard",
        "--tracking-uri",
        tracking_uri,
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/_stcore/health", 90, proc)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop(proc, 15)


def stop(proc: subprocess.Popen, grace: float) -> None:
    """Terminate ``proc``; kill it if it has not exited after ``grace`` seconds."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Page:
    """One tab of a headless Chromium, driven by CDP commands."""

    def __init__(self, ws) -> None:
        self.ws, self.ids = ws, itertools.count(1)

    def call(self, method: str, **params) -> dict:
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == i:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def eval(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)[
            "result"
        ].get("value")

    def wait_for(self, selector: str, timeout: float) -> None:
        """Until ``selector`` is on the page and Streamlit is not running the script."""
        js = (
            f"!!document.querySelector({json.dumps(selector)}) && "
            f"!document.querySelector('{RUNNING}')"
        )
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.eval(js):
                return
            time.sleep(0.2)
        raise TimeoutError(f"{selector!r} did not appear in {timeout:.0f} s")

    def rerun(self, timeout: float = 60) -> None:
        """Wait until the rerun an interaction started has finished rendering."""
        time.sleep(0.5)  # the status widget appears a moment after the widget changed
        self.wait_for('[data-testid="stDataFrame"]', timeout)
        time.sleep(1.0)  # let the data grids draw

    def click(self, element_js: str) -> None:
        """A real mouse click (press and release) at the centre of the element that the
        JavaScript expression ``element_js`` yields, scrolled into view first."""
        box = self.eval(
            f"(() => {{ const e = {element_js}; if (!e) return null; "
            "e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        if box is None:
            raise LookupError(f"no element for {element_js}")
        self.click_at(box[0], box[1])

    def click_at(self, x: float, y: float) -> None:
        """A real mouse click (press and release) at viewport position (x, y)."""
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def click_row(self, grid: int, row: int, timeout: float = 60) -> None:
        """Click the selection box of data row ``row`` (0 = first under the header) of the
        page's ``grid``-th data grid (drawn on a canvas: rows of Streamlit's default 35 px);
        wait for the rerun."""
        top = self.eval(
            f"(() => {{ const g = document.querySelectorAll('[data-testid=\"stDataFrame\"]')"
            f"[{grid}]; g.scrollIntoView({{block: 'start'}}); const r = g.querySelector"
            "('canvas').getBoundingClientRect(); return [r.x, r.y]; })()"
        )
        self.click_at(top[0] + 15, top[1] + 35 * (row + 1) + 17)
        self.rerun(timeout)

    def choose(self, label: str, option: str, timeout: float = 60) -> None:
        """Pick ``option`` in the Streamlit multiselect labelled ``label``; wait for the rerun."""
        box = f"document.querySelector('input[role=combobox][aria-label={json.dumps(label)}]')"
        item = (
            "Array.from(document.querySelectorAll('[role=option]'))"
            f".find(o => o.textContent.trim() === {json.dumps(option)})"
        )
        self.click(box)
        end = time.monotonic() + 10
        while not self.eval(f"!!({item})"):
            if time.monotonic() > end:
                raise TimeoutError(f"option {option!r} of {label!r} did not open")
            time.sleep(0.2)
        self.click(item)
        self.call(
            "Input.dispatchKeyEvent",
            type="keyDown",
            key="Escape",
            code="Escape",
            windowsVirtualKeyCode=27,
        )
        self.rerun(timeout)

    def download(self, text: str, folder: Path, timeout: float = 30) -> Path:
        """Click the first download button labelled ``text``; return the file it saved in
        ``folder`` (Chromium's download behaviour is pointed there first)."""
        folder.mkdir(parents=True, exist_ok=True)
        before = set(folder.iterdir())
        self.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(folder))
        self.click(
            'Array.from(document.querySelectorAll(\'[data-testid="stDownloadButton"] '
            f"button')).find(b => b.textContent.trim() === {json.dumps(text)})"
        )
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            new = [
                p
                for p in set(folder.iterdir()) - before
                if not p.name.endswith(".crdownload") and p.stat().st_size
            ]
            if new:
                return new[0]
            time.sleep(0.2)
        raise TimeoutError(f"the {text!r} download did not arrive in {timeout:.0f} s")

    def screenshot(
        self, out: Path, full_height: bool = False, width: int = 1400, scale: float = 1.0
    ) -> None:
        """PNG of the viewport (or of the whole page's height), scaled by ``scale``."""
        h = self.eval("window.innerHeight")
        if full_height:
            h = int(
                self.eval(
                    "document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight"
                    " || document.body.scrollHeight"
                )
            )
            self.call(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=h,
                deviceScaleFactor=1,
                mobile=False,
            )
            time.sleep(1.0)
        clip = {"x": 0, "y": 0, "width": width, "height": h, "scale": scale}
        png = self.call(
            "Page.captureScreenshot", format="png", captureBeyondViewport=full_height, clip=clip
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(png["data"]))


@contextmanager
def browser(width: int = 1400, height: int = 900) -> Iterator[Page]:
    """A headless Chromium with one blank tab; closed afterwards."""
    from websockets.sync.client import connect

    exe = chromium()
    if exe is None:
        raise FileNotFoundError("chromium is not on PATH")
    port = free_port()
    profile = tempfile.mkdtemp(prefix="kdbench-chromium-")
    proc = subprocess.Popen(
        [
            exe,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--remote-debugging-port={port}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        end = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
                    tabs = json.load(r)
                break
            except OSError:
                if time.monotonic() > end:
                    raise TimeoutError("chromium's DevTools port did not open") from None
                time.sleep(0.1)
        ws_url = next(t["webSocketDebuggerUrl"] for t in tabs if t["type"] == "page")
        with connect(ws_url, max_size=None) as ws:
            page = Page(ws)
            page.call("Page.enable")
            page.call(
                "Emulation.setDeviceMetricsOverride",
                width=width,
                height=height,
                deviceScaleFactor=1,
                mobile=False,
            )
            yield page
    finally:
        stop(proc, 10)
        shutil.rmtree(profile, ignore_errors=True)


def open_page(page: Page, url: str, selector: str, timeout: float = 90) -> str:
    """Navigate to ``url``, wait for ``selector`` and Streamlit to finish; return the text."""
    page.call("Page.navigate", url=url)
    page.wait_for(selector, timeout)
    time.sleep(1.0)  # let the data grids and charts draw
    return page.eval("document.body.innerText")


def main() -> None:
    """``python -m tests.browser URI OUT [HEIGHT [SCALE]]``: a screenshot of the leaderboard
    served on ``URI``, the top ``HEIGHT`` pixels of a 1400-wide window, scaled by ``SCALE``."""
    uri, out = sys.argv[1], Path(sys.argv[2])
    height = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    scale = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
    with leaderboard(uri) as url, browser(width=1400, height=height) as page:
        open_page(page, url, '[data-testid="stDataFrame"]')
        time.sleep(2.0)  # the statistics' figure and the plots
        page.screenshot(out, scale=scale)
    print(f"saved {out} ({out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
