#!/usr/bin/python3
"""Drives headless Chromium through the aidetect web page like a person would, with Selenium WebDriver
(Debian's python3-selenium and chromium-driver): loads the page, chooses a file in its file input (a real upload
through the page's own JavaScript), waits for the verdict, and saves screenshots at desktop and phone width.
Checks that the verdict is on screen (its box lies in the viewport and holds text pixels, read with Pillow) and
that the phone layout does not scroll sideways; optionally that heat maps, the disagreement flag and the models'
card figures are shown.

    python3 scripts/browser_test.py --url http://127.0.0.1:8080/ --file samples/real-photo.jpg --output results/browser
    python3 scripts/browser_test.py --serve .build/release/aidetect --file samples/fake-sdxl-turbo.png --output DIR

Prints one JSON object (verdict, error, screenshots, checks) and exits 0 when every check holds, 1 otherwise,
77 when Chromium, chromedriver, Selenium or Pillow is missing (apt-get install chromium chromium-driver
python3-selenium python3-pil).
"""
import argparse, base64, io, json, os, shutil, socket, subprocess, sys, tempfile, time, urllib.request

try:
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as e:  # reported as a skip, like a missing browser
    Image = webdriver = None
    MISSING = f"{e.name} is not installed (apt-get install python3-selenium python3-pil chromium-driver)"
else:
    MISSING = None


def text_pixels(png, box):
    """Share of pixels in the box that differ clearly from the box's most common colour (text, not a blank)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    x0, y0 = max(0, int(box["x"])), max(0, int(box["y"]))
    x1, y1 = min(image.width, int(box["x"] + box["width"])), min(image.height, int(box["y"] + box["height"]))
    if x1 <= x0 or y1 <= y0:
        return 0.0
    pixels = list(image.crop((x0, y0, x1, y1)).getdata())
    common = max(set(pixels), key=pixels.count)
    return sum(1 for p in pixels if sum(abs(a - b) for a, b in zip(p, common)) > 96) / len(pixels)


def outline_share(data_url):
    """Share of pixels in a PNG data URL drawn in the AI-region outline colour (yellow, 255/214/0)."""
    image = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB")
    pixels = list(image.getdata())
    return sum(1 for r, g, b in pixels if r > 230 and 190 < g < 235 and b < 40) / len(pixels)


def wait_for(predicate, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


def viewport(driver, width, height, mobile):
    """The page's viewport in CSS pixels (not the window's outer size), through the DevTools command Selenium exposes."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="the page of a running server")
    ap.add_argument("--serve", help="an aidetect binary to start (`serve --port 0` is not possible: a free port is picked)")
    ap.add_argument("--file", required=True, help="the image to upload")
    ap.add_argument("--output", required=True, help="folder for the screenshots")
    ap.add_argument("--timeout", type=float, default=180)
    ap.add_argument("--models", help="with --serve: the models to load (serve --models)")
    ap.add_argument("--expect-heatmaps", action="store_true", help="check that heat-map buttons for the loaded models are shown")
    ap.add_argument("--expect-mask", action="store_true",
                    help="check that the AI-regions overlay is offered and, pressed, shows outlined regions (serve --localiser)")
    ap.add_argument("--localiser", help="with --serve: a localiser model file (serve --localiser)")
    ap.add_argument("--expect-disagreement", action="store_true",
                    help="check that the models-disagree flag and each model's card figures are shown")
    a = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_path = shutil.which("chromedriver")
    missing = MISSING or (None if chromium else "chromium is not installed (apt-get install chromium)") or \
        (None if driver_path else "chromedriver is not installed (apt-get install chromium-driver)")
    if missing:
        print(json.dumps({"skipped": missing}))
        return 77
    os.makedirs(a.output, exist_ok=True)
    result = {"file": os.path.basename(a.file), "checks": {}}
    profile = tempfile.mkdtemp(prefix="aidetect-chromium-")
    server = driver = None
    try:
        url = a.url
        if a.serve:
            s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
            server = subprocess.Popen([a.serve, "serve", "--port", str(port), "--timeout", str(int(a.timeout))] + (["--models", a.models] if a.models else []) + (["--localiser", a.localiser] if a.localiser else []),
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            url = f"http://127.0.0.1:{port}/"
            def healthy():
                try:
                    return urllib.request.urlopen(url + "healthz", timeout=2).status == 200
                except OSError:
                    return False
            wait_for(healthy, 120, "the server's /healthz")
        options = Options()
        options.binary_location = chromium
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        driver.set_script_timeout(a.timeout)
        viewport(driver, 1100, 1000, False)
        driver.get(url)
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState === 'complete'")
                                        and d.find_elements(By.ID, "files"))
        # The real file input (kept off-screen by the page's CSS): Selenium types the path as a person's choice would.
        driver.find_element(By.ID, "files").send_keys(os.path.abspath(a.file))
        WebDriverWait(driver, a.timeout, poll_frequency=0.2).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, ".result .verdict, .result .error"))
        state = driver.execute_script(
            "return {verdict: (document.querySelector('.result .verdict') || {}).innerText || '',"
            " error: (document.querySelector('.result .error') || {}).innerText || ''}")
        result["verdict"], result["error"] = state["verdict"].strip(), state["error"].strip()
        result["status"] = driver.execute_script("return document.getElementById('status').innerText")
        result["checks"]["verdict shown"] = bool(result["verdict"]) and not result["error"]
        # The page shows the verdict first and asks for the heat maps in a second request: wait for that to end.
        wait_for(lambda: driver.execute_script("return !document.querySelector('.maps-pending')"), a.timeout, "the heat maps")
        wait_for(lambda: driver.execute_script("return Array.from(document.images).every(i => i.complete)"), 30, "the images")
        result["heatmapButtons"] = driver.execute_script(
            "return Array.from(document.querySelectorAll('.result .toggles button[data-i]')).map(b => b.innerText)")
        result["disagreementShown"] = driver.execute_script("return !!document.querySelector('.result .disagree')")
        result["figures"] = driver.execute_script(
            "return Array.from(document.querySelectorAll('.result table tr')).slice(1).map(r => Array.from(r.cells).slice(3).map(c => c.innerText))")
        result["warnings"] = driver.execute_script(
            "return Array.from(document.querySelectorAll('.result ul.muted li')).map(l => l.innerText)")
        if a.expect_heatmaps:
            result["checks"]["heat maps offered"] = len(result["heatmapButtons"]) > 0
        if a.expect_disagreement:
            result["checks"]["disagreement flag shown"] = result["disagreementShown"]
            result["checks"]["card figures shown"] = bool(result["figures"]) and all(f and f[0] not in ("", "–") for f in result["figures"])
        if a.expect_mask:
            buttons = driver.find_elements(By.CSS_SELECTOR, ".result .toggles button[data-mask]")
            result["checks"]["AI-region overlay offered"] = bool(buttons)
            if buttons:
                buttons[0].click()
                wait_for(lambda: driver.execute_script("return document.querySelector('.result .media img').dataset.kind === 'mask'"), 10, "the overlay")
                src = driver.execute_script("return document.querySelector('.result .media img').src")
                result["regionsText"] = driver.execute_script("return (document.querySelector('.result .regions') || {}).innerText || ''")
                result["outlineShare"] = round(outline_share(src), 4) if src.startswith("data:image/png") else 0
                result["checks"]["AI regions outlined in the overlay"] = result["outlineShare"] > 0.005
                open(os.path.join(a.output, "mask.png"), "wb").write(driver.get_screenshot_as_png())
                result["maskScreenshot"] = os.path.join(a.output, "mask.png")
        driver.execute_script("document.querySelector('.result').scrollIntoView({block: 'start'})")
        box = driver.execute_script(
            "const r = document.querySelector('.result .verdict .band, .result .error').getBoundingClientRect();"
            " return {x: r.x, y: r.y, width: r.width, height: r.height}")
        shot = driver.get_screenshot_as_png()
        path = os.path.join(a.output, "desktop.png")
        open(path, "wb").write(shot)
        result["screenshot"] = path
        w, h = Image.open(io.BytesIO(shot)).size
        result["checks"]["verdict inside the screenshot"] = box["width"] > 0 and box["height"] > 0 and \
            box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= w and box["y"] + box["height"] <= h
        result["verdictTextPixels"] = round(text_pixels(shot, box), 3)
        result["checks"]["verdict text drawn"] = result["verdictTextPixels"] > 0.02
        # A phone: the same result must fit 390 px without sideways scrolling.
        viewport(driver, 390, 844, True)
        time.sleep(0.5)
        result["phoneScrollWidth"] = driver.execute_script("return document.documentElement.scrollWidth")
        result["checks"]["phone width without sideways scrolling"] = result["phoneScrollWidth"] <= 390
        phone = os.path.join(a.output, "phone.png")
        open(phone, "wb").write(driver.get_screenshot_as_png())
        result["phoneScreenshot"] = phone
    except Exception as e:  # reported, not raised: the caller reads the JSON
        result["failure"] = f"{type(e).__name__}: {e}".splitlines()[0]
    finally:
        if driver:
            driver.quit()
        if server:
            server.terminate()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(profile, ignore_errors=True)
    ok = "failure" not in result and result["checks"] and all(result["checks"].values())
    result["ok"] = bool(ok)
    print(json.dumps(result, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
