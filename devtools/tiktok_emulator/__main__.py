"""``python -m devtools.tiktok_emulator --port 8430 [--webhook-url URL --redirect-url URL]``."""

from __future__ import annotations

import argparse
import signal
import sys

from devtools.tiktok_emulator.server import make_server
from devtools.tiktok_emulator.state import Config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A small TikTok Shop emulator (development and tests only).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8430)
    parser.add_argument("--app-key", default=Config.app_key)
    parser.add_argument("--app-secret", default=Config.app_secret)
    parser.add_argument("--webhook-url", default="", help="Where signed webhooks are POSTed.")
    parser.add_argument("--redirect-url", default="", help="Where the authorisation page sends the seller back.")
    parser.add_argument("--webhook-threads", type=int, default=4)
    parser.add_argument("--verbose", action="store_true", help="Log every request.")
    args = parser.parse_args(argv)
    config = Config(
        app_key=args.app_key, app_secret=args.app_secret, webhook_url=args.webhook_url, redirect_url=args.redirect_url
    )
    server, _ = make_server(args.host, args.port, config, webhook_threads=args.webhook_threads, verbose=args.verbose)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"TikTok Shop emulator on http://{args.host}:{args.port} (app key {args.app_key})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
