"""What the production smoke test needs in place of the outside world: a TLS certificate authority
for ``localhost``, and an SMTP server that speaks STARTTLS and AUTH as a real relay does and keeps
every message it accepts (``SmtpSink``)."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import ipaddress
import socketserver
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# --- TLS ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    ca: Path  # the authority clients trust (SSL_CERT_FILE)
    cert: Path  # localhost's certificate, signed by it
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def make_tls(folder: Path) -> Tls:
    """A throw-away authority and a certificate for ``localhost`` and ``127.0.0.1`` (one day)."""
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Portal smoke test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])).issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    tls = Tls(folder / "ca.pem", folder / "localhost.pem", folder / "localhost-key.pem")
    tls.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.cert.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    tls.key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    tls.key.chmod(0o600)
    return tls


# --- SMTP -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: tuple[str, ...]
    data: bytes
    tls: bool  # the message travelled after STARTTLS
    user: str  # who authenticated ("" if nobody)

    @property
    def message(self) -> email.message.EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()


class _Session(socketserver.StreamRequestHandler):
    """One SMTP connection: EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    server: _Server

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        tls, user, sender, recipients = False, "", "", []
        self.reply("220 localhost ESMTP smoke-test sink")
        while line := self.rfile.readline(65536):
            command, _, argument = line.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
            command = command.upper()
            if command in ("EHLO", "HELO"):
                lines = ["localhost", "8BITMIME", "AUTH PLAIN" if tls else "STARTTLS"]
                self.reply("".join(f"250-{line}\r\n" for line in lines[:-1]) + f"250 {lines[-1]}")
            elif command == "STARTTLS" and not tls:
                self.reply("220 2.0.0 ready to start TLS")
                self.request = self.server.tls.wrap_socket(self.request, server_side=True)
                self.rfile, self.wfile = self.request.makefile("rb"), self.request.makefile("wb")
                tls = True
            elif command == "AUTH":
                mechanism, _, initial = argument.partition(" ")
                if not tls or mechanism.upper() != "PLAIN" or not initial:
                    self.reply("504 5.5.4 AUTH PLAIN with an initial response, after STARTTLS")
                    continue
                _authzid, user, _password = base64.b64decode(initial).decode().split("\0")
                self.reply("235 2.7.0 authenticated")
            elif command == "MAIL":
                sender, recipients = argument.partition(":")[2].strip().strip("<>").split(">")[0], []
                self.reply("250 2.1.0 ok")
            elif command == "RCPT":
                recipients.append(argument.partition(":")[2].strip().strip("<>").split(">")[0])
                self.reply("250 2.1.5 ok")
            elif command == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                lines = []
                while (data := self.rfile.readline(1 << 20)) not in (b".\r\n", b""):
                    lines.append(data[1:] if data.startswith(b"..") else data)
                self.server.keep(Received(sender, tuple(recipients), b"".join(lines), tls, user))
                self.reply("250 2.0.0 queued")
            elif command in ("RSET", "NOOP"):
                sender, recipients = ("", []) if command == "RSET" else (sender, recipients)
                self.reply("250 2.0.0 ok")
            elif command == "QUIT":
                self.reply("221 2.0.0 bye")
                return
            else:
                self.reply("502 5.5.2 command not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tls: ssl.SSLContext):
        super().__init__(("127.0.0.1", 0), _Session)
        self.tls = tls
        self.received: list[Received] = []
        self.lock = threading.Lock()

    def keep(self, message: Received) -> None:
        with self.lock:
            self.received.append(message)


class SmtpSink:
    """An SMTP relay on loopback that accepts every message (STARTTLS, then AUTH PLAIN) and keeps it."""

    def __init__(self, tls: Tls):
        self._server = _Server(tls.server_context())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True)

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def received(self) -> list[Received]:
        with self._server.lock:
            return list(self._server.received)

    def to(self, address: str) -> list[Received]:
        return [m for m in self.received if address in m.recipients]
