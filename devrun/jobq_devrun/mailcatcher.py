"""The mail catcher of `jobq run`: an SMTP server on loopback that delivers nowhere.

It accepts every message (aiosmtpd) and keeps it as a file under its folder
(:func:`jobq_core.localmail.store`), where the API's `GET /v1/local/mail` reads it.
Run as a child process by :func:`jobq_devrun.servers.start_mail_catcher`:

    python -m jobq_devrun.mailcatcher --port 2525 --dir .jobq/mail
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from aiosmtpd.smtp import SMTP, Envelope, Session

from jobq_core import localmail

HOSTNAME = "jobq-mail-catcher"


class Catcher:
    """An aiosmtpd handler that stores each message it is given in `folder`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Keep the message; it is delivered nowhere else."""
        content = envelope.original_content or b""
        mail_id = localmail.store(self.folder, str(envelope.mail_from or ""), list(envelope.rcpt_tos), content)
        print(f"caught {mail_id} for {len(envelope.rcpt_tos)} recipient(s)", flush=True)
        return f"250 caught as {mail_id}"


async def serve(host: str, port: int, folder: Path) -> None:
    """Accept mail on `host`:`port` until SIGTERM or SIGINT."""
    catcher = Catcher(folder)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # hostname given: aiosmtpd would otherwise look up this machine's FQDN, which can hang.
    server = await loop.create_server(
        lambda: SMTP(catcher, hostname=HOSTNAME, enable_SMTPUTF8=True), host=host, port=port
    )
    print(f"catching mail on {host}:{port} into {folder}", flush=True)
    try:
        await stop.wait()
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):  # a client still connected is not waited for
            await asyncio.wait_for(server.wait_closed(), 2)


def main(argv: list[str] | None = None) -> int:
    """Run the catcher; the exit code."""
    parser = argparse.ArgumentParser(prog="python -m jobq_devrun.mailcatcher", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True, help="where each message is kept, one .eml file each")
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(serve(args.host, args.port, args.dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
