"""A real SMTP server for the notice tests (Debian's python3-aiosmtpd), on loopback.

Usage: smtp_sink.py PORT OUT_DIR USER PASSWORD
Accepts AUTH (PLAIN/LOGIN) for USER/PASSWORD only, without TLS, and writes each message it
receives to OUT_DIR/N.eml, headed by the login used and the envelope's recipients.
"""
import os
import signal
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, out, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3].encode(), sys.argv[4].encode()


class Sink:
    async def handle_DATA(self, server, session, envelope):
        auth = getattr(session, "auth_data", None)
        login = auth.login.decode() if isinstance(auth, LoginPassword) else ""
        name = os.path.join(out, f"{len(os.listdir(out))}.eml")
        with open(name + ".part", "wb") as f:
            f.write(f"X-Sink-Login: {login}\r\n".encode())
            f.write(f"X-Sink-Rcpt: {','.join(envelope.rcpt_tos)}\r\n".encode())
            f.write(envelope.original_content)
        os.rename(name + ".part", name)
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == user and auth_data.password == password
    return AuthResult(success=ok, auth_data=auth_data if ok else None)


controller = Controller(
    Sink(), hostname="127.0.0.1", port=port, authenticator=authenticate, auth_require_tls=False, auth_required=True
)
controller.start()
print("ready", flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
signal.pause()
