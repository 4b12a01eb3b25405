"""No network at run time: pytest-socket refuses it, in the test session and in every kernel.

The test session runs with ``--disable-socket --allow-unix-socket`` (pyproject's addopts);
the book runner (``tools/bookbuild.py``) calls ``pytest_socket.disable_socket`` in every
chapter kernel through an IPython startup file.
"""

from __future__ import annotations

import socket

import nbformat
import pytest
from pytest_socket import SocketBlockedError, SocketConnectBlockedError

from tools.bookbuild import execute_notebook

# A documentation-only address (TEST-NET-3, RFC 5737): never a real host.
OUTSIDE = ("203.0.113.1", 9)

#: The refusals below are deliberate: pytest-socket's warning beside each error is expected.
expected_warning = pytest.mark.filterwarnings("ignore:A test tried to use socket:UserWarning")


@expected_warning
def test_the_test_session_refuses_outbound_connections():
    # Refused before any packet: no Internet socket can even be created.
    with pytest.raises(SocketBlockedError, match="socket"):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM).connect(OUTSIDE)
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET6, socket.SOCK_STREAM).connect_ex(("example.org", 80))
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", OUTSIDE)
    with pytest.raises(SocketBlockedError):
        socket.create_connection(("example.org", 80), timeout=5)  # the name lookup too


def test_unix_sockets_stay_allowed():
    # asyncio's self-pipe (ipykernel, tornado) is a Unix socket pair.
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"ping")
        assert right.recv(4) == b"ping"


@expected_warning
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_loopback_can_be_allowed_and_outbound_stays_refused():
    # The mode of the browser test (make browser: --allow-hosts=localhost,127.0.0.1,::1).
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=5):
            connection, _ = server.accept()
            connection.close()
    with pytest.raises(SocketConnectBlockedError, match=r"203\.0\.113\.1"):
        socket.socket().connect(OUTSIDE)


def test_a_chapter_kernel_refuses_outbound_connections(tmp_path):
    code = (
        "import socket\n"
        "try:\n"
        f"    socket.socket().connect({OUTSIDE!r})\n"
        "except RuntimeError as error:\n"
        "    print('refused:', type(error).__name__)\n"
        "else:\n"
        "    raise AssertionError('outbound connect was not refused')\n"
    )
    # Keras imports urllib3, whose IPv6 probe is refused silently: no output in a chapter.
    cells = [nbformat.v4.new_code_cell(code), nbformat.v4.new_code_cell("import keras")]
    notebook = nbformat.v4.new_notebook(cells=cells)
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
    assert [output["text"] for output in executed.cells[0].outputs] == [
        "refused: SocketBlockedError\n"
    ]
    assert executed.cells[1].outputs == []
