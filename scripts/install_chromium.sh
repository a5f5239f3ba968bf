#!/usr/bin/env bash
# Debian's chromium for the report's browser test (tests/test_report_browser.py drives it with Playwright's
# Python client; Playwright's own browser download is not used). Idempotent; installs only when missing and
# only as root with apt. Prints the browser's path.
#
#   scripts/install_chromium.sh
set -euo pipefail

if ! command -v chromium >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "install_chromium: chromium is missing and this is not root with apt-get; the browser test will skip" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
command -v chromium
