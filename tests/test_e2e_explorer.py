"""The API explorers in a real browser: Debian's headless Chromium, driven by Selenium.

A real ``luminary serve`` on a SQLite file; each explorer must render every
operation of its document with nothing from another host (the page's
Content-Security-Policy would refuse it, and Chromium says so in its console),
and "Try it out" must reach the same server: ``GET /api/constellations/``
with no token (v1 is open), ``GET /api/v2/me`` with the token given to
"Authorize".

Needs ``chromium`` and ``chromium-driver`` (Debian's packages, which ``.ci/run``
installs) and Selenium: without them the test is skipped, except in CI
(``CI=true``), where their absence is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("luminary.http", reason="luminary-http is not installed")

from served import serve

IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
#: How long the explorer may take to render, or an answer to show (Swagger UI is a 1.4 MB script).
PATIENCE = 30

pytestmark = pytest.mark.slow


def _missing() -> str | None:
    if not CHROMIUM or not CHROMEDRIVER:
        return "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "needs selenium (pip install selenium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = _missing()
    if missing:
        if IN_CI:
            pytest.fail(f"CI=true: {missing}", pytrace=False)
        pytest.skip(missing)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1800",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Debian's driver, named: Selenium Manager never looks for (nor downloads) another.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(PATIENCE)
    try:
        yield driver
    finally:
        driver.quit()


def _get(port: int, path: str, token: str | None = None) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def _post(port: int, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


def _operation_count(document: dict[str, Any]) -> int:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return sum(1 for item in document["paths"].values() for method in item if method in methods)


def _open_explorer(driver: Any, url: str, expected: int) -> None:
    """Load an explorer and wait until it shows every operation."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, PATIENCE).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= expected
    )
    assert len(driver.find_elements(By.CSS_SELECTOR, ".opblock")) == expected
    assert not driver.find_elements(By.CSS_SELECTOR, ".errors-wrapper"), "Swagger UI reports errors"


def _try_it_out(driver: Any, block_id: str) -> str:
    """Expand one operation, "Try it out", "Execute"; the status of the answer shown."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, PATIENCE)
    block = driver.find_element(By.ID, block_id)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", block)
    block.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f"#{block_id} .try-out__btn"))).click()
    wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, f"#{block_id} .execute"))).click()
    status = wait.until(
        ec.visibility_of_element_located(
            (By.CSS_SELECTOR, f"#{block_id} .live-responses-table .response .response-col_status")
        )
    )
    text: str = status.text
    return text.split()[0]


def _console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def test_the_explorers_render_every_operation_and_try_it_out_reaches_the_server(browser, tmp_path: Path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with serve(f"sqlite:///{tmp_path / 'explorer.db'}") as server:
        port = server.port
        base = f"http://127.0.0.1:{port}"

        # v1, open: no token.
        v1_document = _get(port, "/api/v1/openapi.json")
        _open_explorer(browser, f"{base}/api/v1/docs", _operation_count(v1_document))
        assert _try_it_out(browser, "operations-constellations-listConstellations") == "200"
        shown = browser.find_element(
            By.CSS_SELECTOR, "#operations-constellations-listConstellations .live-responses-table"
        ).text
        assert "Triangulum" in shown  # the seeded catalogue, read from the server
        browser.save_screenshot(str(tmp_path / "explorer-v1.png"))
        assert _console_errors(browser) == []

        # v2: a token from signing in, given to "Authorize".
        _post(port, "/api/v2/accounts", {"display_name": "Ada", "login": "ada", "password": "correct horse"})
        token = _post(
            port,
            "/api/v2/tokens",
            {"login": "ada", "password": "correct horse", "name": "explorer", "scopes": ["read"]},
        )["data"]["secret"]
        v2_document = _get(port, "/api/v2/openapi.json")
        _open_explorer(browser, f"{base}/api/v2/docs", _operation_count(v2_document))
        wait = WebDriverWait(browser, PATIENCE)
        browser.find_element(By.CSS_SELECTOR, ".auth-wrapper .authorize").click()
        field = wait.until(ec.visibility_of_element_located((By.ID, "auth-bearer-value")))
        field.send_keys(token)
        browser.find_element(By.CSS_SELECTOR, ".modal-ux .auth-btn-wrapper .authorize").click()
        browser.find_element(By.CSS_SELECTOR, ".modal-ux .btn-done").click()
        assert _try_it_out(browser, "operations-accounts-getMe") == "200"
        shown = browser.find_element(By.CSS_SELECTOR, "#operations-accounts-getMe .live-responses-table").text
        assert '"login": "ada"' in shown
        # The curl line Swagger UI shows names the token it sent.
        curl = browser.find_element(By.CSS_SELECTOR, "#operations-accounts-getMe .curl-command").text
        assert f"Authorization: Bearer {token}" in curl
        browser.save_screenshot(str(tmp_path / "explorer-v2.png"))
        assert _console_errors(browser) == []
        # Every request the pages made reached this server (the access log names them).
        log = "".join(server.output)
        assert '"GET /api/v2/me" 200' in log
        assert '"GET /api/constellations/" 200' in log or '"GET /api/constellations" 200' in log
