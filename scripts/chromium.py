"""Headless Debian Chromium driven over the DevTools protocol, for screenshots of the Prefect UI.

The Prefect UI is a single-page app: ``chromium --screenshot`` may capture before it has
fetched anything, so we navigate, wait until the page shows what we expect, then capture.
Only the ``websockets`` package (installed with Prefect) is needed.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

# Flags for a root, display-less machine with no outside network (see the machine notes).
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--lang=zh-CN",
]

# Decodes a PNG in the page and counts distinct colours on a grid: catches blank captures.
_COLOURS_JS = """
(async (data) => {
  const img = new Image();
  img.src = "data:image/png;base64," + data;
  await img.decode();
  const c = document.createElement("canvas");
  c.width = img.width; c.height = img.height;
  const ctx = c.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const px = ctx.getImageData(0, 0, c.width, c.height).data;
  const seen = new Set();
  for (let y = 0; y < c.height; y += 3)
    for (let x = 0; x < c.width; x += 3) {
      const i = (y * c.width + x) * 4;
      seen.add((px[i] << 16) | (px[i + 1] << 8) | px[i + 2]);
    }
  return seen.size;
})
"""


class BrowserError(RuntimeError):
    pass


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise BrowserError(
        "Chromium not found: apt-get install --no-install-recommends chromium fonts-wqy-zenhei"
    )


class Browser:
    """One headless Chromium with one page; ``with Browser() as b: b.goto(url) ...``."""

    def __init__(
        self,
        width: int = 1600,
        height: int = 1200,
        timeout: float = 30,
        time_zone: str = "Asia/Shanghai",
    ) -> None:
        self.width, self.height, self.timeout = width, height, timeout
        self.time_zone = time_zone
        self._profile = Path(tempfile.mkdtemp(prefix="nianbao-chromium-"))
        self._ids = itertools.count(1)
        self._process: subprocess.Popen | None = None
        self._ws: Any = None

    def __enter__(self) -> Browser:
        self._process = subprocess.Popen(
            [
                find_chromium(),
                *FLAGS,
                f"--user-data-dir={self._profile}",
                f"--window-size={self.width},{self.height}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "TZ": self.time_zone},  # run times as a coordinator sees them
            start_new_session=True,
        )
        port_file = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise BrowserError("Chromium did not start (no DevTools port)")
            time.sleep(0.1)
        port = port_file.read_text().splitlines()[0]
        browser = connect(
            f"ws://127.0.0.1:{port}{port_file.read_text().splitlines()[1]}", max_size=None
        )
        self._ws = browser
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        browser.close()
        self._ws = connect(f"ws://127.0.0.1:{port}/devtools/page/{target}", max_size=None)
        self.send("Page.enable")
        self.resize(self.width, self.height)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):  # the browser may be gone already
                self._ws.close()
            self._ws = None
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        shutil.rmtree(self._profile, ignore_errors=True)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """One DevTools command; events arriving meanwhile are ignored."""
        ident = next(self._ids)
        self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"no answer from Chromium to {method}")
            message = json.loads(self._ws.recv(timeout=left))
            if message.get("id") != ident:
                continue
            if "error" in message:
                raise BrowserError(f"{method}: {message['error'].get('message')}")
            return message.get("result", {})

    def evaluate(self, expression: str, *, await_promise: bool = False) -> Any:
        result = self.send(
            "Runtime.evaluate",
            expression=expression,
            returnByValue=True,
            awaitPromise=await_promise,
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def resize(self, width: int, height: int) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def text(self) -> str:
        return self.evaluate("document.body ? document.body.innerText : ''") or ""

    def wait_for(self, *texts: str, timeout: float = 45, settle: float = 1.5) -> str:
        """Wait until the page's text contains every one of ``texts``; return that text."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.text()
            if all(t in body for t in texts):
                time.sleep(settle)  # let late requests and animations finish
                return self.text()
            if time.monotonic() > deadline:
                missing = [t for t in texts if t not in body]
                raise BrowserError(f"the page never showed {missing!r}; it shows: {body[:400]!r}")
            time.sleep(0.5)

    def click_text(
        self, text: str, selector: str = "button, [role=tab], [role=menuitem], a"
    ) -> None:
        """Click (a real mouse click) the first visible ``selector`` element whose text is ``text``.

        Radix widgets in the Prefect UI react to pointer events, not to ``element.click()``.
        """
        box = self.evaluate(
            f"""(() => {{
              const els = [...document.querySelectorAll({json.dumps(selector)})];
              const el = els.find(e => e.getClientRects().length && e.innerText
                                       && e.innerText.trim() === {json.dumps(text)});
              if (!el) return null;
              el.scrollIntoView({{block: "center"}});
              const r = el.getBoundingClientRect();
              return [r.x + r.width / 2, r.y + r.height / 2];
            }})()"""
        )
        if not box:
            raise BrowserError(f"nothing to click labelled {text!r}")
        x, y = box
        self.send("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y)
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                type=kind,
                x=x,
                y=y,
                button="left",
                buttons=1 if kind == "mousePressed" else 0,
                clickCount=1,
                pointerType="mouse",
            )

    def screenshot(self, path: Path, *, min_colours: int = 8) -> int:
        """Capture the viewport to ``path``; refuse an empty or (nearly) one-colour image."""
        data = self.send("Page.captureScreenshot", format="png")["data"]
        png = base64.b64decode(data)
        if not png:
            raise BrowserError(f"{path.name}: empty screenshot")
        colours = self.evaluate(f"{_COLOURS_JS}({json.dumps(data)})", await_promise=True)
        if not colours or colours < min_colours:
            raise BrowserError(f"{path.name}: the screenshot is blank ({colours} colours)")
        path.write_bytes(png)
        return colours
