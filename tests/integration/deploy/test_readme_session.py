"""The README's curl session runs as written against a server set up as the README says, twice in a row.

The block is taken from README.md itself (the fenced block after the ``curl-session`` comment), so the
README cannot drift from the product: a renamed field, a changed status code or a step that only works
once fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from .processes import BASH, REPOSITORY, run_supportdesk, serving, supportdesk_environment, system_command

README = REPOSITORY / "README.md"
MARKER = "<!-- curl-session:"
# What the README tells the reader the server's address is, replaced by the test server's.
README_ADDRESS = "http://127.0.0.1:8000"


def curl_session() -> str:
    """The shell block that follows the marker comment in README.md."""
    text = README.read_text(encoding="utf-8")
    assert text.count(MARKER) == 1, f"README.md should mark its curl session once with {MARKER!r}"
    found = re.match(r"[^\n]*-->\n```sh\n(.*?)\n```\n", text[text.index(MARKER) :], re.DOTALL)
    assert found is not None, "the curl-session comment is not followed by a ```sh block"
    return found.group(1)


def test_the_session_names_the_server_address_once() -> None:
    """The address is set in one place, so pointing it at the test server points every step there."""
    session = curl_session()

    assert session.count(README_ADDRESS) == 1
    assert session.startswith(f"API={README_ADDRESS}/api/v1\n")


def test_the_readme_curl_session_works_twice_in_a_row(tmp_path: Path) -> None:
    system_command("curl")
    environment = supportdesk_environment(tmp_path)
    # What `make run` does before serving. A smaller demo than the default keeps the test fast; the
    # session only needs the demo's users and a few high-priority tickets.
    run_supportdesk(environment, tmp_path, "db", "upgrade")
    run_supportdesk(environment, tmp_path, "demo", "--if-missing", "--tickets", "40", "--customers", "10")

    with serving(environment, tmp_path) as server:
        script = curl_session().replace(README_ADDRESS, server.base_url)
        shell = {
            # The session's python3 is this environment's: the one a reader of the README has as well.
            **{name: value for name, value in os.environ.items() if not name.lower().endswith("_proxy")},
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        runs = []
        for _ in range(2):
            # -e and pipefail stop at the first step that fails (every curl uses -f, except the one
            # that shows a 412 on purpose); -u at a variable the session forgot to set.
            done = subprocess.run(  # noqa: S603  (bash on the README's own block)
                [BASH, "-euo", "pipefail", "-c", script],
                env=shell,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                check=False,
                timeout=60,
            )
            assert done.returncode == 0, f"exit status {done.returncode}\n{done.stderr}\n{done.stdout}"
            assert done.stderr == ""
            runs.append(done.stdout)

    for output in runs:
        # The retry was answered from the stored response, the stale If-Match was refused, and the
        # delete went through.
        assert re.search(r"^idempotent-replayed: true\r?$", output, re.IGNORECASE | re.MULTILINE), output
        assert re.search(r"^412$", output, re.MULTILINE), output
        assert output.rstrip().endswith("204"), output
    created = [
        re.findall(r"^location: (/api/v1/tickets/\d+)\r?$", output, re.IGNORECASE | re.MULTILINE)
        for output in runs
    ]
    # Each run made a ticket of its own: the second did not replay the first's key.
    assert len(created[0]) == len(created[1]) == 1
    assert created[0] != created[1]
