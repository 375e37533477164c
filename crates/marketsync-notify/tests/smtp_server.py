"""A real SMTP server for the e-mail transport's tests (aiosmtpd).

Usage: python3 smtp_server.py --port PORT --dir DIR [--security none|starttls|tls]
       [--cert PEM --key PEM] [--user NAME]

With --user, AUTH is required and the password is read from the environment variable
SMTP_TEST_PASSWORD. Each message received is saved to DIR as N.eml (the data as received) and
N.json (the envelope: sender and recipients). Recipients whose local part is `full` are deferred
with 452, those whose local part is `nobody` refused with 550. Prints "ready" once listening;
stops when standard input closes.

Parse: python3 smtp_server.py parse FILE prints a saved message as JSON, read with Python's own
e-mail parser: {"headers": {name: [values]}, "body": the decoded text body}.
"""

import argparse
import json
import logging
import os
import ssl
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Saver:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local == "full":
            return "452 4.2.2 Mailbox full, try again later"
        if local == "nobody":
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        base = os.path.join(self.directory, str(n))
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(base + ".json.tmp", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
        # The JSON last: a reader that sees N.json finds N.eml complete.
        os.rename(base + ".eml.tmp", base + ".eml")
        os.rename(base + ".json.tmp", base + ".json")
        return "250 Message accepted for delivery"


class Authenticator:
    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        if auth_data.login == self.user and auth_data.password == self.password:
            return AuthResult(success=True)
        # handled=False: the server answers 535 itself.
        return AuthResult(success=False, handled=False)


def parse(path):
    from email import policy
    from email.parser import BytesParser

    with open(path, "rb") as f:
        message = BytesParser(policy=policy.default).parse(f)
    headers = {}
    for name, value in message.items():
        headers.setdefault(name.lower(), []).append(str(value))
    body = message.get_body(preferencelist=("plain",)).get_content()
    print(json.dumps({"headers": headers, "body": body}))


def main():
    # aiosmtpd's warnings about the test setup (AUTH over implicit TLS, deprecations).
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    if len(sys.argv) == 3 and sys.argv[1] == "parse":
        parse(sys.argv[2])
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--security", choices=["none", "starttls", "tls"], default="none")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--user")
    args = parser.parse_args()

    kwargs = {}
    context = None
    if args.security != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    if args.security == "starttls":
        kwargs["tls_context"] = context
        kwargs["require_starttls"] = True
    elif args.security == "tls":
        kwargs["ssl_context"] = context
    if args.user:
        kwargs["authenticator"] = Authenticator(args.user, os.environ["SMTP_TEST_PASSWORD"])
        kwargs["auth_required"] = True
        # With implicit TLS the whole connection is encrypted, but aiosmtpd only counts
        # STARTTLS as TLS when deciding whether to offer AUTH.
        kwargs["auth_require_tls"] = args.security == "starttls"

    controller = Controller(
        Saver(args.dir), hostname="127.0.0.1", port=args.port, ready_timeout=30, **kwargs
    )
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
