#!/usr/bin/python3
"""Drives headless Chromium through the aidetect review page (/review) like a reviewer would, with Selenium WebDriver:
opens a review's results, checks that the grid is sorted by P(AI), opens the first image and waits for its evidence
(optionally switching to the AI-regions overlay), labels it and writes a note, goes to the next image and labels it,
goes back to the grid, and exports the evidence as HTML and PDF (fetched by the page's own links). Screenshots of
the grid and of the side-by-side view at desktop and phone width; the phone layout must not scroll sideways.

    python3 scripts/review_browser_test.py --url http://127.0.0.1:8090/review --output results/review-browser

Prints one JSON object (checks, screenshots) and exits 0 when every check holds, 1 otherwise, 77 when Chromium,
chromedriver, Selenium or Pillow is missing.
"""
import argparse, io, json, os, shutil, sys, tempfile, time

try:
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as e:
    Image = webdriver = None
    MISSING = f"{e.name} is not installed (apt-get install python3-selenium python3-pil chromium-driver)"
else:
    MISSING = None


def viewport(driver, width, height, mobile):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})


def shot(driver, path):
    png = driver.get_screenshot_as_png()
    open(path, "wb").write(png)
    return png


def distinct_colours(png):
    """How many distinct colours a screenshot holds (a blank or broken page has a handful)."""
    image = Image.open(io.BytesIO(png)).convert("RGB").resize((200, 200))
    return len(set(image.getdata()))


def label_current(driver, label, note, timeout):
    driver.find_element(By.CSS_SELECTOR, f"#detail input[name=label][value={label}]").click()
    area = driver.find_element(By.CSS_SELECTOR, "#detail #note")
    area.clear()
    area.send_keys(note)
    driver.find_element(By.CSS_SELECTOR, "#detail #save").click()
    WebDriverWait(driver, timeout, poll_frequency=0.2).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#detail #saved").text.startswith("Saved "))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="the review page of a running server (…/review)")
    ap.add_argument("--output", required=True, help="folder for the screenshots")
    ap.add_argument("--timeout", type=float, default=180)
    ap.add_argument("--expect-mask", action="store_true", help="check that the first image's AI-region overlay can be shown")
    a = ap.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_path = shutil.which("chromedriver")
    missing = MISSING or (None if chromium else "chromium is not installed") or (None if driver_path else "chromedriver is not installed")
    if missing:
        print(json.dumps({"skipped": missing}))
        return 77
    os.makedirs(a.output, exist_ok=True)
    result = {"checks": {}, "screenshots": []}
    checks = result["checks"]
    profile = tempfile.mkdtemp(prefix="aidetect-chromium-")
    driver = None
    try:
        options = Options()
        options.binary_location = chromium
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", f"--user-data-dir={profile}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        driver.set_script_timeout(a.timeout)
        viewport(driver, 1200, 1000, False)
        driver.get(a.url)
        WebDriverWait(driver, 60, poll_frequency=0.2).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#grid li"))
        WebDriverWait(driver, 60).until(lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)"))
        scores = driver.execute_script(
            "return Array.from(document.querySelectorAll('#grid li')).map(l => l.dataset.probability).filter(p => p !== '').map(Number)")
        result["gridScores"] = scores
        checks["grid sorted by P(AI), highest first"] = len(scores) >= 2 and scores == sorted(scores, reverse=True)
        checks["grid thumbnails loaded"] = driver.execute_script(
            "return Array.from(document.querySelectorAll('#grid img')).filter(i => i.naturalWidth > 0).length") >= 2
        for name, png in [("grid-desktop.png", shot(driver, os.path.join(a.output, "grid-desktop.png")))]:
            result["screenshots"].append(name)
            checks["grid screenshot drawn"] = distinct_colours(png) > 50

        # The first (highest-scoring) image, side by side with its evidence.
        driver.find_element(By.CSS_SELECTOR, "#grid li a").click()
        WebDriverWait(driver, a.timeout, poll_frequency=0.2).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#detail .verdict, #detail .error"))
        checks["evidence shown"] = bool(driver.find_elements(By.CSS_SELECTOR, "#detail .verdict"))
        result["views"] = driver.execute_script("return Array.from(document.querySelectorAll('#detail .toggles button')).map(b => b.innerText)")
        checks["heat map offered"] = any("heat map" in v for v in result["views"])
        checks["per-model scores shown"] = len(driver.find_elements(By.CSS_SELECTOR, "#detail table tr")) >= 2
        checks["provenance shown"] = bool(driver.find_elements(By.XPATH, "//h3[contains(., 'Provenance evidence')]"))
        if a.expect_mask:
            buttons = driver.find_elements(By.CSS_SELECTOR, "#detail .toggles button[data-kind=mask]")
            checks["AI-region overlay offered"] = bool(buttons)
            if buttons:
                buttons[0].click()
                WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.getElementById('shown').dataset.kind === 'mask'"))
                checks["AI-region overlay shown"] = driver.execute_script("return document.getElementById('shown').src.startsWith('data:image/png')")
                result["regionsText"] = driver.find_element(By.CSS_SELECTOR, "#detail .regions").text
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)"))
        png = shot(driver, os.path.join(a.output, "detail-desktop.png"))
        result["screenshots"].append("detail-desktop.png")
        checks["detail screenshot drawn"] = distinct_colours(png) > 50
        side_by_side = driver.execute_script(
            "const m = document.querySelector('#detail .media').getBoundingClientRect(), f = document.querySelector('#detail .facts').getBoundingClientRect();"
            " return m.right <= f.left + 1 && Math.abs(m.top - f.top) < 5")
        checks["image and evidence side by side on a desktop"] = side_by_side

        first_name = driver.find_element(By.CSS_SELECTOR, "#detail h2").text
        label_current(driver, "ai", "Checked the workflow metadata; the hands look wrong.", a.timeout)
        driver.find_element(By.ID, "next").click()
        WebDriverWait(driver, a.timeout, poll_frequency=0.2).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#detail h2") and d.find_element(By.CSS_SELECTOR, "#detail h2").text != first_name)
        WebDriverWait(driver, a.timeout, poll_frequency=0.2).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#detail .verdict, #detail .error"))
        label_current(driver, "real", "Photographer confirmed; EXIF matches the camera.", a.timeout)

        # The phone: the detail view and then the grid, without sideways scrolling.
        viewport(driver, 390, 844, True)
        time.sleep(0.5)
        result["phoneDetailScrollWidth"] = driver.execute_script("return document.documentElement.scrollWidth")
        shot(driver, os.path.join(a.output, "detail-phone.png"))
        result["screenshots"].append("detail-phone.png")
        driver.find_element(By.ID, "back").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "list").is_displayed())
        WebDriverWait(driver, 30).until(lambda d: "2 labelled" in d.find_element(By.ID, "counts").text)
        checks["two images labelled"] = True
        time.sleep(0.5)
        result["phoneGridScrollWidth"] = driver.execute_script("return document.documentElement.scrollWidth")
        png = shot(driver, os.path.join(a.output, "grid-phone.png"))
        result["screenshots"].append("grid-phone.png")
        checks["phone width without sideways scrolling"] = result["phoneDetailScrollWidth"] <= 390 and result["phoneGridScrollWidth"] <= 390
        checks["phone screenshot drawn"] = distinct_colours(png) > 50
        viewport(driver, 1200, 1000, False)

        # The export, through the page's own links.
        html_url = driver.find_element(By.ID, "export-html").get_attribute("href")
        pdf_url = driver.find_element(By.ID, "export-pdf").get_attribute("href")
        exported = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "Promise.all([fetch(arguments[0]).then(r => r.text()), fetch(arguments[1]).then(async r => [r.status, new Uint8Array(await r.arrayBuffer()).slice(0, 5)])])"
            ".then(([h, [s, b]]) => done({html: h, pdfStatus: s, pdfHead: String.fromCharCode(...b)})).catch(e => done({error: String(e)}))",
            html_url, pdf_url)
        html = exported.get("html", "")
        result["exportBytes"] = len(html)
        checks["HTML export holds both notes"] = "Checked the workflow metadata" in html and "Photographer confirmed" in html
        checks["HTML export self-contained"] = "<script" not in html and 'src="http' not in html and "data:image/jpeg;base64," in html
        checks["PDF export"] = exported.get("pdfStatus") == 200 and exported.get("pdfHead") == "%PDF-"
        # The exported report itself, rendered.
        path = os.path.join(a.output, "export.html")
        open(path, "w").write(html)
        driver.get("file://" + os.path.abspath(path))
        png = shot(driver, os.path.join(a.output, "export-desktop.png"))
        result["screenshots"].append("export-desktop.png")
        checks["export renders"] = distinct_colours(png) > 50 and "Reviewer" in driver.page_source
    except Exception as e:
        result["failure"] = f"{type(e).__name__}: {e}".splitlines()[0]
    finally:
        if driver:
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
    ok = "failure" not in result and checks and all(checks.values())
    result["ok"] = bool(ok)
    print(json.dumps(result, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
