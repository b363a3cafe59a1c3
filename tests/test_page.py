"""The step-through page: one self-contained HTML file, stepped through in a real
headless browser (Chromium, driven by Selenium) to the seed's numbers.

Without a browser the browser tests skip, unless GRADLEDGER_REQUIRE_VIEW=1 (set by
.ci/run, which installs Chromium): then a missing browser fails them.
"""

import os
import re
import shutil

import gradledger as gl
import pytest

REQUIRED = os.environ.get("GRADLEDGER_REQUIRE_VIEW") == "1"


def seed_page(path, **options):
    """The seed's chain a = x * 3, loss = a * a at x = 2, explained and written."""
    x = gl.tensor(2.0, requires_grad=True, name="x")
    a = x * 3
    a.name = "a"
    loss = a * a
    ledger = gl.explain(loss, show=False)
    ledger.to_html(path, **options)
    return x, a, ledger


def test_the_page_is_one_file_that_fetches_nothing(tmp_path):
    seed_page(tmp_path / "seed.html")
    html = (tmp_path / "seed.html").read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    addresses = set(re.findall(r"(?:https?:)?//[\w.-]+", html))
    assert addresses == {"http://www.w3.org"}, addresses  # the SVG namespace, never fetched
    assert not re.search(r"<script[^>]*\bsrc=|<link\b|@import|<iframe|<img\b", html)


def test_the_page_carries_every_entry_and_the_nudge_computed_when_written(tmp_path):
    seed_page(tmp_path / "seed.html")
    html = (tmp_path / "seed.html").read_text(encoding="utf-8")
    # x = 2.01: loss = (3 * 2.01)² = 36.3609, ratio (36.3609 - 36) / 0.01 = 36.09
    assert '"nudged": "36.3609"' in html and '"ratio": "36.09"' in html
    assert '"booked": "36.0"' in html
    assert html.count('"rule": "local_grad"') == 3 and html.count('"rule": "seed"') == 1


def test_to_html_names_the_leaves_when_the_nudged_one_is_not_there(tmp_path):
    with pytest.raises(gl.GradledgerError, match="Leaves: x"):
        seed_page(tmp_path / "seed.html", nudge="w")


def browser():
    """A headless Chromium driven by Selenium, or a skip (a failure when required)."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing = "selenium is not installed (pip install -e '.[view]')"
    else:
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        driver = shutil.which("chromedriver")
        if binary and driver:
            options = webdriver.ChromeOptions()
            options.binary_location = binary
            for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1200,1000"):
                options.add_argument(flag)
            return webdriver.Chrome(service=Service(driver), options=options)
        missing = "Chromium or chromedriver is not installed (apt-get install chromium " \
                  "chromium-driver)"
    if REQUIRED:
        pytest.fail(f"GRADLEDGER_REQUIRE_VIEW=1 but {missing}")
    pytest.skip(missing)


@pytest.fixture
def page():
    driver = browser()
    yield driver
    driver.quit()


def text(driver, element_id):
    return driver.find_element("id", element_id).text


def test_stepping_the_seeds_page_to_the_end_shows_12_then_36(page, tmp_path):
    x, a, _ = seed_page(tmp_path / "seed.html")
    page.get((tmp_path / "seed.html").as_uri())
    step = page.find_element("id", "step")
    assert text(page, "balance-x") == "—" and text(page, "counter") == "0 / 4"
    balances = []
    while step.is_enabled():
        step.click()
        balances.append((text(page, "balance-a"), text(page, "balance-x")))
    page.save_screenshot(str(tmp_path / "seed_page.png"))
    assert balances == [("—", "—"), ("6.0", "—"), ("12.0", "—"), ("12.0", "36.0")]
    assert (float(balances[-1][0]), float(balances[-1][1])) == (a.grad, x.grad)
    assert text(page, "entry") == ("x.grad += local × a.grad = 3.0 × 12.0 → 36.0 (mul)")
    assert "grad 36.0" in page.find_element("id", "grad-n1").text
    assert text(page, "paths-a") == "6.0 + 6.0 = 12.0 (2 paths add up: +=)"
    assert text(page, "nudge-ratio") == "ratio = (36.3609 − 36.0) / 0.01 = 36.09"
    assert text(page, "nudge-booked").startswith("booked by backward: x.grad = 36.0")
    assert (tmp_path / "seed_page.png").read_bytes()[:4] == b"\x89PNG"


def test_y_equals_x_plus_x_accumulates_two_paths_on_the_page(page, tmp_path):
    x = gl.tensor(3.0, requires_grad=True, name="x")
    y = x + x
    gl.explain(y, show=False).to_html(tmp_path / "twice.html")
    page.get((tmp_path / "twice.html").as_uri())
    page.find_element("id", "end").click()
    assert text(page, "balance-x") == "2.0" == str(x.grad)
    assert text(page, "paths-x") == "1.0 + 1.0 = 2.0 (2 paths add up: +=)"
    page.find_element("id", "back").click()
    assert text(page, "balance-x") == "1.0"
