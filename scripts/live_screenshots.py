"""Screenshots of the live view in headless Chromium (Debian's, scripts/install_chromium.sh; Playwright drives it):
the report that `--watch` rewrites, taken mid-sweep with a trial running, and TensorBoard's scalars and HParams
over the finished sweep.

    python scripts/live_screenshots.py [--out docs]

The sweep: demo data, the smoke budget, finetune / finetune_aug on animals with resnet18 and a GRU on spam. Writes
OUT/live-report.png, OUT/tensorboard-scalars.png, OUT/tensorboard-hparams.png and OUT/tensorboard-parallel.png.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sweeps.cluster.processes import end_tree  # noqa: E402
from tests.servers import free_port, wait_for_url  # noqa: E402

LIVE = re.compile(r'data-ended="(\d+)" data-total="(\d+)" data-running="(\d+)"')


def browser(playwright, chromium: str):
    return playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])


def mid_sweep_report(page, run: Path, out: Path, sweep: subprocess.Popen) -> None:
    """Wait for a page of the watched report with a trial running and some ended, and shoot it."""
    report = run / "reports" / "index.html"
    while sweep.poll() is None:
        found = LIVE.search(report.read_text()) if report.exists() else None
        if found and 0 < int(found.group(1)) < int(found.group(2)) and int(found.group(3)):
            page.goto(report.as_uri())
            page.screenshot(path=str(out / "live-report.png"))
            return
        time.sleep(0.5)
    sys.exit("error: the sweep ended before a page showed a running trial")


def tensorboard_views(page, run: Path, out: Path) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "analysis", "tensorboard", str(run), "--port", str(port)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_url(base + "/data/runs", "tensorboard")
        time.sleep(5)  # it loads the event files in the background
        page.goto(base + "/#timeseries")
        page.wait_for_timeout(6000)
        page.screenshot(path=str(out / "tensorboard-scalars.png"))
        page.set_viewport_size({"width": 1900, "height": 700})  # the table's metric columns come last
        page.goto(base + "/#hparams")
        page.wait_for_timeout(6000)
        page.screenshot(path=str(out / "tensorboard-hparams.png"))
        page.get_by_text("Parallel coordinates view", exact=False).first.click()
        page.wait_for_timeout(3000)
        page.screenshot(path=str(out / "tensorboard-parallel.png"))
    finally:
        end_tree(server.pid)


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    chromium = subprocess.run([str(ROOT / "scripts" / "install_chromium.sh")], capture_output=True, text=True,
                              check=True).stdout.strip().splitlines()[-1]
    storage = Path(tempfile.mkdtemp(prefix="screens_"))
    run = storage / "s"
    sweep = subprocess.Popen([sys.executable, str(ROOT / "sweeps" / "matrix.py"), "--local", "--datasets",
                              "animals,spam", "--models", "resnet18,gru", "--methods",
                              "finetune,finetune_aug,recurrent", "--budget", "smoke", "--weights", "random",
                              "--storage", str(storage), "--sweep-id", "s"],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watcher = subprocess.Popen([sys.executable, "-m", "analysis", str(run), "--watch", "2"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with sync_playwright() as p:
            shown = browser(p, chromium)
            page = shown.new_page(viewport={"width": 1280, "height": 860})
            mid_sweep_report(page, run, args.out, sweep)
            sweep.wait()
            tensorboard_views(page, run, args.out)
            shown.close()
    finally:
        for proc in (sweep, watcher):
            end_tree(proc.pid)
    print(f"written: {args.out}/live-report.png, tensorboard-scalars.png, tensorboard-hparams.png, "
          f"tensorboard-parallel.png")


if __name__ == "__main__":
    main()
