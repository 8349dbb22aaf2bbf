"""The dashboard in a real headless browser (Debian's chromium): it loads, draws, logs no errors."""

import re
import shutil
import subprocess

import pytest

from recloop.serve.app import create_app
from recloop.serve.runner import BackgroundServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=8000", "--dump-dom"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_dashboard_draws_in_headless_chromium(sqlite_db, tmp_path, config):
    cfg = config(sqlite_db, tmp_path, api_key="user-key-123", admin_key="admin-key-456")
    app = create_app(cfg)
    with BackgroundServer(app) as url:
        import httpx
        h = {"X-API-Key": "user-key-123"}
        for i in range(30):
            ev = httpx.post(f"{url}/v1/rank", headers=h, json={"context": [i % 3, 1, 0, 0],
                                                               "candidates": [{"id": "a"}, {"id": "b"}]}).json()
            httpx.post(f"{url}/v1/events/{ev['event_id']}/reward", headers=h, json={"value": i % 2})
        httpx.post(f"{url}/v1/models/snapshot", json={}, headers={"X-API-Key": "admin-key-456"})
        out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chromium'}",
                              f"{url}/#key=user-key-123"], capture_output=True, text=True, timeout=90)
    dom, log = out.stdout, out.stderr
    assert 'data-status="drawn"' in dom, (dom[-2000:], log[-2000:])
    assert int(re.search(r'data-ctr-points="(\d+)"', dom).group(1)) >= 1
    assert int(re.search(r'data-traffic-points="(\d+)"', dom).group(1)) >= 1
    assert int(re.search(r'data-models="(\d+)"', dom).group(1)) == 2
    assert re.search(r'data-learned="(\d+)"', dom).group(1) == "30"  # what the live model learned
    console = [line for line in log.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == [], console


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_dashboard_without_the_key_shows_the_refusal(sqlite_db, tmp_path, config):
    app = create_app(config(sqlite_db, tmp_path, api_key="user-key-123"))
    with BackgroundServer(app) as url:
        out = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", f"{url}/"],
                             capture_output=True, text=True, timeout=90)
    assert 'data-status="error"' in out.stdout and "HTTP 401" in out.stdout
