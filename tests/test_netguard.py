"""No network at run time: the guard refuses outbound connections, in tests and kernels."""

from __future__ import annotations

import socket

import nbformat
import pytest

from spect_tutorial import netguard
from spect_tutorial.bookbuild import execute_notebook

# A documentation-only address (TEST-NET-3, RFC 5737): never a real host.
OUTSIDE = ("203.0.113.1", 9)


def test_the_test_session_refuses_outbound_connections():
    assert netguard.is_installed()  # only then is the connect below stopped before any packet
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        with pytest.raises(netguard.NetworkAccessError, match="refused"):
            client.connect(OUTSIDE)
        with pytest.raises(netguard.NetworkAccessError):
            client.connect_ex(("example.org", 80))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        with pytest.raises(netguard.NetworkAccessError):
            udp.sendto(b"x", OUTSIDE)


def test_loopback_stays_allowed():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            connection, _ = server.accept()
            connection.close()


def test_a_chapter_kernel_refuses_outbound_connections(tmp_path):
    code = (
        "import socket\n"
        "from spect_tutorial import netguard\n"
        "assert netguard.is_installed(), 'guard missing in the kernel'\n"
        "try:\n"
        f"    socket.socket().connect({OUTSIDE!r})\n"
        "except netguard.NetworkAccessError:\n"
        "    print('refused')\n"
        "else:\n"
        "    raise AssertionError('outbound connect was not refused')\n"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    source = tmp_path / "probe.ipynb"
    nbformat.write(notebook, source)
    result = execute_notebook(source, tmp_path / "out" / "probe.ipynb", cwd=tmp_path)
    assert result.ok, result.error
    executed = nbformat.read(tmp_path / "out" / "probe.ipynb", as_version=4)
    assert "refused" in executed.cells[0].outputs[0]["text"]
