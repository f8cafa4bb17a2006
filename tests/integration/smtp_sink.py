"""A real SMTP server for the outbound tests: Debian's aiosmtpd (run with the system
python3, where the package lives). Behaviour by recipient local part:

  temp-N-...@   451 4.3.0 for the first N attempts, then accepted
  reject-...@   550 5.1.1 No such user here
  anything else accepted

Accepted messages are written to OUTDIR/<n>.eml with the envelope in OUTDIR/<n>.json;
every connection adds a line to OUTDIR/connections (tests that a server is never used).
Usage: smtp_sink.py PORT OUTDIR [--tls CERT KEY] [--require-tls] [--dsn]
"""
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

attempts = {}


class Handler:
    def __init__(self, outdir):
        self.outdir = outdir
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local.startswith("reject-"):
            return "550 5.1.1 No such user here"
        if local.startswith("temp-"):
            n = int(local.split("-")[1])
            attempts[address] = attempts.get(address, 0) + 1
            if attempts[address] <= n:
                return "451 4.3.0 Try again later (attempt %d)" % attempts[address]
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.append(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.outdir, "%d" % self.count)
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(base + ".json", "w") as f:
            json.dump({"from": envelope.mail_from, "to": envelope.rcpt_tos, "mail_options": envelope.mail_options,
                       "rcpt_options": envelope.rcpt_options, "tls": session.ssl is not None}, f)
        return "250 2.0.0 Accepted as %d" % self.count


def main():
    port, outdir = int(sys.argv[1]), sys.argv[2]
    args = sys.argv[3:]
    tls = None
    if "--tls" in args:
        i = args.index("--tls")
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args[i + 1], args[i + 2])
    os.makedirs(outdir, exist_ok=True)

    class CountingSMTP(SMTP):
        def connection_made(self, transport):
            with open(os.path.join(outdir, "connections"), "a") as f:
                f.write("connection\n")
            super().connection_made(transport)

    class Sink(Controller):
        def factory(self):
            return CountingSMTP(self.handler, tls_context=tls, require_starttls="--require-tls" in args,
                                enable_SMTPUTF8=True, decode_data=False, ident="sink")

    c = Sink(Handler(outdir), hostname="127.0.0.1", port=port)
    c.start()
    print("ready", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        c.stop()


if __name__ == "__main__":
    main()
