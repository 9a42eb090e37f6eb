"""Look at a log the way a user does: `inspect view` in headless Chromium, screenshots and DOM checks.

    python scripts/check_viewer.py --log-dir logs/demo --out /tmp/viewer

Needs Debian's `chromium` and `chromium-driver` and Selenium (`pip install "selenium<4.52"`). Writes PNG
screenshots of the results header, the sample list and one sample's Messages and Scoring tabs into `--out`,
and prints what the page shows: the header's metric names, the sample list's columns, whether the clip's
`<audio>` element loads, and the verdict lines of the sample's checklist.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, seconds: float = 60.0) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read(1)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"inspect view did not answer at {url}")


def browser(width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--autoplay-policy=no-user-gesture-required",
                f"--window-size={width},{height}"):  # fmt: skip
        options.add_argument(arg)
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def click_text(driver, text: str, timeout: float = 20.0) -> bool:
    from selenium.webdriver.common.by import By

    deadline = time.time() + timeout
    while time.time() < deadline:
        for el in driver.find_elements(By.XPATH, f"//*[normalize-space(text())='{text}']"):
            if el.is_displayed():
                driver.execute_script("arguments[0].click();", el)
                return True
        time.sleep(0.5)
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--out", default="viewer-check")
    parser.add_argument("--sample", type=int, default=0, help="row of the sample list to open")
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1000)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    inspect = Path(sys.executable).with_name("inspect")
    server = subprocess.Popen(
        [str(inspect), "view", "--log-dir", args.log_dir, "--port", str(port), "--host", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    report: dict[str, object] = {}
    driver = None
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_for(url)
        driver = browser(args.width, args.height)
        from selenium.webdriver.common.by import By

        driver.get(url)
        time.sleep(4)
        logs = driver.find_elements(By.CSS_SELECTOR, "a[href*='.eval']")
        if logs:  # a folder listing: open the newest log
            driver.execute_script("arguments[0].click();", logs[0])
            time.sleep(4)
        driver.save_screenshot(str(out / "1-results.png"))
        report["header_text"] = driver.find_element(By.TAG_NAME, "body").text[:3000]
        rows = driver.find_elements(By.CSS_SELECTOR, "[class*='sample'] [class*='row'], [role='row']")
        report["sample_rows"] = len(rows)
        driver.save_screenshot(str(out / "2-samples.png"))
        if rows:
            driver.execute_script("arguments[0].click();", rows[min(args.sample + 1, len(rows) - 1)])
            time.sleep(4)
        driver.save_screenshot(str(out / "3-sample-messages.png"))
        audio = driver.execute_script(
            "return Array.from(document.querySelectorAll('audio')).map(a => [a.readyState, (a.src||'').slice(0,30)])"
        )
        report["audio_elements"] = audio
        if click_text(driver, "Scoring", 10):
            time.sleep(2)
            driver.save_screenshot(str(out / "4-sample-scoring.png"))
        body = driver.find_element(By.TAG_NAME, "body").text
        if click_text(driver, "Messages", 10):
            time.sleep(2)
            driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
            for el in driver.find_elements(By.CSS_SELECTOR, "*"):
                if el.size.get("height", 0) > 600 and el.value_of_css_property("overflow-y") in ("auto", "scroll"):
                    driver.execute_script("arguments[0].scrollTop = arguments[0].scrollHeight", el)
            time.sleep(1)
            driver.save_screenshot(str(out / "5-sample-messages-end.png"))
        report["verdict_lines"] = [
            line for line in body.splitlines() if line.lstrip().startswith(("✗", "✓", "~", "?", "-", "•"))
        ][:40]
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
    print(json.dumps(report, ensure_ascii=False, indent=2))
    print(f"screenshots in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
