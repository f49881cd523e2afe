"""One file over HTTP(S): resumed with a Range request after a broken connection, retried, checked, then renamed.

The bytes go to <name>.part next to the target; only a complete file whose MD5 matches is renamed
(os.replace) to the target name. On any failure the .part file is removed: nothing half-written stays.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from sparana_cli.errors import UserError

ATTEMPTS = 3  # connections per file: the first and two resumptions
RETRY_WAIT_S = 1.0  # seconds before the second attempt, doubled before each later one
TIMEOUT_S = 30.0
_BLOCK = 1 << 20


def download(url: str, target: Path, md5: str, *, on_bytes=None) -> None:
    """Fetch url into target, verified against md5; a UserError (one line, naming the URL) when that fails."""
    part = target.with_name(target.name + ".part")
    part.unlink(missing_ok=True)
    try:
        _fetch_with_retries(url, part, on_bytes)
        found = file_md5(part)
        if found != md5:
            raise UserError(f"{url}: checksum mismatch (MD5 {found}, expected {md5}); the file was discarded")
        os.replace(part, target)
    finally:
        part.unlink(missing_ok=True)


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch_with_retries(url: str, part: Path, on_bytes) -> None:
    wait = RETRY_WAIT_S
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _fetch_once(url, part, on_bytes)
            return
        except urllib.error.HTTPError as err:
            if err.code < 500 or attempt == ATTEMPTS:  # 404 and the like will not change on a retry
                raise UserError(f"{url}: HTTP {err.code} {err.reason}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            if attempt == ATTEMPTS:
                reason = err.reason if isinstance(err, urllib.error.URLError) else err
                raise UserError(f"{url}: download failed after {ATTEMPTS} attempts ({_describe(reason)})") from None
        time.sleep(wait)
        wait *= 2


def _fetch_once(url: str, part: Path, on_bytes) -> None:
    """Append the rest of url to part (all of it if the server ignores Range); an error if it ends early."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        if have and response.status != 206:  # the server sent the whole file again
            have = 0
        length = response.headers.get("Content-Length")
        expected = have + int(length) if length is not None and length.strip().isdigit() else None  # else unknown
        with open(part, "ab" if have else "wb") as out:
            while block := response.read(_BLOCK):
                out.write(block)
                if on_bytes is not None:
                    on_bytes(len(block))
    size = part.stat().st_size
    if expected is not None and size < expected:
        raise http.client.IncompleteRead(b"", expected - size)


def _describe(reason) -> str:
    if isinstance(reason, http.client.IncompleteRead):
        return "the connection closed before the end of the file"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused: is the server running?"
    return str(reason) or type(reason).__name__
