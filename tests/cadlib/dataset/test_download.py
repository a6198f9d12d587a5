"""Downloads resume where an interrupted one stopped and are checked against their sha256; the
DeepCAD archive layout unpacks into a source extract can read. Served by a local HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading

import pytest

from cadlib.dataset import DownloadError, download, fetch_deepcad, find_deepcad
from tests.cadlib.dataset.deepcad_fixture import make_deepcad


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves `payload` with Range support; the first full request is cut off half-way."""

    payload = b""
    cut_first = True
    ranges: list = []

    def do_GET(self):  # noqa: N802 - http.server's name
        cls = type(self)
        start = 0
        if rng := self.headers.get("Range"):
            start = int(rng.split("=")[1].split("-")[0])
        cls.ranges.append(start)
        body = cls.payload[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if cls.cut_first and not start:
            cls.cut_first = False
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)  # the connection drops mid-transfer
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    RangeHandler.cut_first, RangeHandler.ranges = True, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_an_interrupted_download_resumes_and_is_verified(server, tmp_path):
    RangeHandler.payload = bytes(range(256)) * 4000
    digest = hashlib.sha256(RangeHandler.payload).hexdigest()
    dest = tmp_path / "data.tar"
    with pytest.raises(DownloadError, match="run again to resume"):
        download(f"{server}/data.tar", dest, sha256=digest)
    assert not dest.exists() and (tmp_path / "data.tar.part").stat().st_size == len(RangeHandler.payload) // 2
    download(f"{server}/data.tar", dest, sha256=digest)
    assert dest.read_bytes() == RangeHandler.payload
    assert RangeHandler.ranges == [0, len(RangeHandler.payload) // 2]  # the second request resumed


def test_a_wrong_checksum_is_refused(server, tmp_path):
    RangeHandler.payload, RangeHandler.cut_first = b"x" * 1000, False
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download(f"{server}/a.bin", tmp_path / "a.bin", sha256="0" * 64)
    assert not (tmp_path / "a.bin").exists() and not (tmp_path / "a.bin.part").exists()


def test_fetch_deepcad_unpacks_the_archive_layout(server, tmp_path):
    src = tmp_path / "src" / "data"
    make_deepcad(src, n=6)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(src, arcname="data")
    RangeHandler.payload, RangeHandler.cut_first = buf.getvalue(), False
    root = fetch_deepcad(tmp_path / "deepcad", f"{server}/data.tar",
                         sha256=hashlib.sha256(buf.getvalue()).hexdigest())
    cad_json, split = find_deepcad(root)
    assert cad_json == root / "data" / "cad_json" and split.is_file()
    assert fetch_deepcad(root, f"{server}/data.tar") == root  # done once: nothing fetched again
    assert RangeHandler.ranges == [0]
