#!/usr/bin/env python3
"""Drives headless Chromium (Debian package `chromium`) through the aidetect web page like a person would:
loads the page, chooses a file in its file input (a real upload through the page's own JavaScript), waits
for the verdict, and saves screenshots at desktop and phone width. Checks that the verdict is on screen (its
box lies in the viewport and holds text pixels) and that the phone layout does not scroll sideways.

    python3 scripts/browser_test.py --url http://127.0.0.1:8080/ --file samples/real-photo.jpg --output results/browser
    python3 scripts/browser_test.py --serve .build/release/aidetect --file samples/fake-sdxl-turbo.png --output DIR

Prints one JSON object (verdict, error, screenshots, checks) and exits 0 when every check holds, 1 otherwise,
77 when Chromium is missing. Standard library only: the DevTools protocol is spoken over a minimal WebSocket
client below.
"""
import argparse, base64, json, os, shutil, socket, struct, subprocess, sys, tempfile, time, urllib.request, zlib


class WebSocket:
    """Just enough RFC 6455 for the DevTools protocol: masked text frames out, (fragmented) frames in."""

    def __init__(self, url):
        assert url.startswith("ws://")
        host_port, _, path = url[5:].partition("/")
        host, _, port = host_port.partition(":")
        self.sock = socket.create_connection((host, int(port or 80)), timeout=60)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /{path} HTTP/1.1\r\nHost: {host_port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            if not chunk:
                raise RuntimeError("websocket: connection closed during the handshake")
            head += chunk
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError(f"websocket: handshake refused: {head[:200]!r}")

    def _read(self, n):
        out = bytearray()
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise RuntimeError("websocket: connection closed")
            out += chunk
        return bytes(out)

    def send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                                  bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else
                                  bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def receive(self):
        message = bytearray()
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = b0 & 0x0F
            if opcode == 8:
                raise RuntimeError("websocket: closed by the browser")
            if opcode in (9, 10):  # ping / pong: not used by DevTools
                continue
            message += payload
            if b0 & 0x80:
                return message.decode()


class DevTools:
    def __init__(self, ws_url):
        self.ws = WebSocket(ws_url)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            m = json.loads(self.ws.receive())
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})

    def evaluate(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"page script failed: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")


def decode_png(data):
    """8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes) -> (width, height, channels, rows)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, "unexpected PNG layout"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, rows, prev = zlib.decompress(idat), width * channels, [], bytearray(width * channels)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        prev = line
    return width, height, channels, rows


def text_pixels(png, box):
    """Share of pixels in the box that differ clearly from the box's most common colour (text, not a blank)."""
    width, height, ch, rows = decode_png(png)
    x0, y0 = max(0, int(box["x"])), max(0, int(box["y"]))
    x1, y1 = min(width, int(box["x"] + box["width"])), min(height, int(box["y"] + box["height"]))
    pixels = [tuple(rows[y][x * ch:x * ch + 3]) for y in range(y0, y1) for x in range(x0, x1)]
    if not pixels:
        return 0.0
    common = max(set(pixels), key=pixels.count)
    return sum(1 for p in pixels if sum(abs(a - b) for a, b in zip(p, common)) > 96) / len(pixels)


def wait_for(predicate, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="the page of a running server")
    ap.add_argument("--serve", help="an aidetect binary to start (`serve --port 0` is not possible: a free port is picked)")
    ap.add_argument("--file", required=True, help="the image to upload")
    ap.add_argument("--output", required=True, help="folder for the screenshots")
    ap.add_argument("--timeout", type=float, default=180)
    ap.add_argument("--models", help="with --serve: the models to load (serve --models)")
    ap.add_argument("--expect-heatmaps", action="store_true", help="check that heat-map buttons for the loaded models are shown")
    ap.add_argument("--expect-disagreement", action="store_true",
                    help="check that the models-disagree flag and each model's card figures are shown")
    a = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not chromium:
        print(json.dumps({"skipped": "chromium is not installed (apt-get install chromium)"}))
        return 77
    os.makedirs(a.output, exist_ok=True)
    result = {"file": os.path.basename(a.file), "checks": {}}
    profile = tempfile.mkdtemp(prefix="aidetect-chromium-")
    server = browser = None
    try:
        url = a.url
        if a.serve:
            s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
            server = subprocess.Popen([a.serve, "serve", "--port", str(port)] + (["--models", a.models] if a.models else []),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            url = f"http://127.0.0.1:{port}/"
            def healthy():
                try:
                    return urllib.request.urlopen(url + "healthz", timeout=2).status == 200
                except OSError:
                    return False
            wait_for(healthy, 120, "the server's /healthz")
        browser = subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                    "--no-first-run", "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = os.path.join(profile, "DevToolsActivePort")
        wait_for(lambda: os.path.exists(port_file) and open(port_file).read().strip(), 60, "Chromium's DevTools port")
        dt_port = open(port_file).read().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{dt_port}/json/list", timeout=10))
        page = next(t for t in targets if t.get("type") == "page")
        dt = DevTools(page["webSocketDebuggerUrl"])
        dt.call("Page.enable")
        dt.call("Emulation.setDeviceMetricsOverride", width=1100, height=1000, deviceScaleFactor=1, mobile=False)
        dt.call("Page.navigate", url=url)
        wait_for(lambda: dt.evaluate("document.readyState === 'complete' && !!document.getElementById('files')"), 30, "the page")
        root = dt.call("DOM.getDocument", depth=0)["root"]["nodeId"]
        node = dt.call("DOM.querySelector", nodeId=root, selector="#files")["nodeId"]
        dt.call("DOM.setFileInputFiles", files=[os.path.abspath(a.file)], nodeId=node)
        state = wait_for(lambda: json.loads(dt.evaluate(
            "JSON.stringify({verdict: (document.querySelector('.result .verdict') || {}).innerText || '',"
            " error: (document.querySelector('.result .error') || {}).innerText || ''})")) if dt.evaluate(
            "!!document.querySelector('.result .verdict, .result .error')") else None, a.timeout, "the verdict")
        result["verdict"], result["error"] = state["verdict"].strip(), state["error"].strip()
        result["status"] = dt.evaluate("document.getElementById('status').innerText")
        result["checks"]["verdict shown"] = bool(result["verdict"]) and not result["error"]
        wait_for(lambda: dt.evaluate("Array.from(document.images).every(i => i.complete)"), 30, "the images")
        result["heatmapButtons"] = dt.evaluate("Array.from(document.querySelectorAll('.result .toggles button[data-i]')).map(b => b.innerText)")
        result["disagreementShown"] = dt.evaluate("!!document.querySelector('.result .disagree')")
        result["figures"] = dt.evaluate("Array.from(document.querySelectorAll('.result table tr')).slice(1).map(r => Array.from(r.cells).slice(3).map(c => c.innerText))")
        result["warnings"] = dt.evaluate("Array.from(document.querySelectorAll('.result ul.muted li')).map(l => l.innerText)")
        if a.expect_heatmaps:
            result["checks"]["heat maps offered"] = len(result["heatmapButtons"]) > 0
        if a.expect_disagreement:
            result["checks"]["disagreement flag shown"] = result["disagreementShown"]
            result["checks"]["card figures shown"] = bool(result["figures"]) and all(f and f[0] not in ("", "–") for f in result["figures"])
        dt.evaluate("document.querySelector('.result').scrollIntoView({block: 'start'}); true")
        box = json.loads(dt.evaluate("JSON.stringify(document.querySelector('.result .verdict .band, .result .error').getBoundingClientRect())"))
        shot = base64.b64decode(dt.call("Page.captureScreenshot", format="png")["data"])
        path = os.path.join(a.output, "desktop.png")
        open(path, "wb").write(shot)
        result["screenshot"] = path
        w, h, _, _ = decode_png(shot)
        result["checks"]["verdict inside the screenshot"] = box["width"] > 0 and box["height"] > 0 and \
            box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= w and box["y"] + box["height"] <= h
        result["verdictTextPixels"] = round(text_pixels(shot, box), 3)
        result["checks"]["verdict text drawn"] = result["verdictTextPixels"] > 0.02
        # A phone: the same result must fit 390 px without sideways scrolling.
        dt.call("Emulation.setDeviceMetricsOverride", width=390, height=844, deviceScaleFactor=1, mobile=True)
        time.sleep(0.5)
        result["phoneScrollWidth"] = dt.evaluate("document.documentElement.scrollWidth")
        result["checks"]["phone width without sideways scrolling"] = result["phoneScrollWidth"] <= 390
        phone = os.path.join(a.output, "phone.png")
        open(phone, "wb").write(base64.b64decode(dt.call("Page.captureScreenshot", format="png")["data"]))
        result["phoneScreenshot"] = phone
    except Exception as e:  # reported, not raised: the caller reads the JSON
        result["failure"] = f"{type(e).__name__}: {e}"
    finally:
        for p in (browser, server):
            if p:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(profile, ignore_errors=True)
    ok = "failure" not in result and result["checks"] and all(result["checks"].values())
    result["ok"] = bool(ok)
    print(json.dumps(result, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
