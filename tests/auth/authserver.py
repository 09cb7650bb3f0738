"""A real OAuth2 authorization server for the tests, built from authlib's RFC 6749 / 7009 /
7523 / 7662 server classes and served over TLS on loopback by wsgiref in a child process.

Run as ``python -m tests.auth.authserver CERT KEY JWTKEY``: it prints ``PORT <n>`` once it
listens on 127.0.0.1, and serves until terminated.

Clients (``client_secret_basic`` or ``client_secret_post``):
- ``ws-client`` / ``ws-secret``: every grant (client credentials, password, refresh token,
  JWT bearer with assertions signed by the key whose public half is JWTKEY).
- ``noexp-client`` / ``noexp-secret``: client credentials; introspection omits ``exp``.
- ``introspector`` / ``intro-secret``: may introspect (``/introspect``) and revoke
  (``/revoke``) any token.
Introspection answers hold ``scope`` (a string), ``scp`` (the same as a list) and ``gty``
(the grant that issued the token).
A user ``alice`` / ``alice-pw``. Scopes: ``read``, ``write``, ``update``.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import trustme

__all__ = ["AuthServer", "sharedAuthServer", "CLIENTS"]

CLIENTS = {
    "ws-client": "ws-secret",
    "noexp-client": "noexp-secret",
    "introspector": "intro-secret",
}
USERS = {"alice": "alice-pw"}
SCOPES = ("read", "write", "update")
EXPIRES_IN = 3600


def _server(jwtKeyFile: str, port: int) -> Any:
    """The WSGI application: the authorization server with its endpoints."""
    import threading

    from authlib.common.security import generate_token
    from authlib.oauth2 import AuthorizationServer as _AuthorizationServer
    from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request, TokenMixin, grants
    from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
    from authlib.oauth2.rfc6750 import BearerTokenGenerator
    from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
    from authlib.oauth2.rfc7523 import JWTBearerGrant as _JWTBearerGrant
    from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint
    from joserfc import jwk

    lock = threading.RLock()
    base = f"https://127.0.0.1:{port}"

    class Client(ClientMixin):
        def __init__(self, clientId: str) -> None:
            self.client_id = clientId

        def get_client_id(self) -> str:
            return self.client_id

        def get_default_redirect_uri(self) -> str:
            return base

        def get_allowed_scope(self, scope: str) -> str:
            return " ".join(s for s in (scope or "").split() if s in SCOPES)

        def check_redirect_uri(self, uri: str) -> bool:
            return False

        def check_client_secret(self, secret: str) -> bool:
            return CLIENTS.get(self.client_id) == secret

        def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
            return method in ("client_secret_basic", "client_secret_post")

        def check_response_type(self, responseType: str) -> bool:
            return False

        def check_grant_type(self, grantType: str) -> bool:
            if self.client_id == "ws-client":
                return True
            return grantType == "client_credentials" and self.client_id == "noexp-client"

    class Token(TokenMixin):
        def __init__(self, data: dict[str, Any], clientId: str, user: str | None,
                     grantType: str) -> None:
            self.data = data
            self.grantType = grantType
            self.clientId = clientId
            self.user = user
            self.issuedAt = int(time.time())
            self.revoked = False

        def check_client(self, client: Any) -> bool:
            return True

        def get_scope(self) -> str:
            return str(self.data.get("scope", ""))

        def get_expires_in(self) -> int:
            return int(self.data.get("expires_in", 0))

        def is_expired(self) -> bool:
            return time.time() >= self.issuedAt + self.get_expires_in()

        def is_revoked(self) -> bool:
            return self.revoked

        def get_user(self) -> str | None:
            return self.user

        def get_client(self) -> Any:
            return Client(self.clientId)

    byAccess: dict[str, Token] = {}
    byRefresh: dict[str, Token] = {}

    class Server(_AuthorizationServer):  # type: ignore[misc]
        def query_client(self, clientId: str) -> Client | None:
            return Client(clientId) if clientId in CLIENTS else None

        def save_token(self, data: dict[str, Any], request: Any) -> None:
            token = Token(data, request.client.get_client_id(), request.user,
                          request.payload.grant_type)
            with lock:
                byAccess[data["access_token"]] = token
                if "refresh_token" in data:
                    byRefresh[data["refresh_token"]] = token

        def create_oauth2_request(self, request: Any) -> Any:
            return request

        def create_json_request(self, request: Any) -> Any:
            return request

        def handle_response(self, status: int, body: Any, headers: Any) -> Any:
            return status, body, headers

        def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
            pass

    methods = ["client_secret_basic", "client_secret_post"]

    class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = methods

    class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = methods

        def authenticate_user(self, username: str, password: str) -> str | None:
            return username if USERS.get(username) == password else None

    class RefreshTokenGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = methods
        INCLUDE_NEW_REFRESH_TOKEN = True

        def authenticate_refresh_token(self, refreshToken: str) -> Token | None:
            token = byRefresh.get(refreshToken)
            return token if token is not None and not token.revoked else None

        def authenticate_user(self, token: Token) -> str:
            return token.user or "client"

        def revoke_old_credential(self, token: Token) -> None:
            token.revoked = True

    publicKey = jwk.import_key(open(jwtKeyFile, "rb").read())

    class JWTBearerGrant(_JWTBearerGrant):  # type: ignore[misc]
        def resolve_issuer_client(self, issuer: str) -> Client | None:
            return Client(issuer) if issuer == "ws-client" else None

        def resolve_client_public_key(self, client: Client) -> Any:
            return publicKey

        def authenticate_user(self, subject: str) -> str | None:
            return subject if subject in USERS else None

        def get_audiences(self) -> list[str]:
            return [f"{base}/token"]

        def has_granted_permission(self, client: Client, user: str) -> bool:
            return True

    class IntrospectionEndpoint(_IntrospectionEndpoint):  # type: ignore[misc]
        CLIENT_AUTH_METHODS = ["client_secret_basic"]

        def query_token(self, value: str, hint: str | None) -> Token | None:
            return byAccess.get(value) or byRefresh.get(value)

        def check_permission(self, token: Token, client: Client, request: Any) -> bool:
            return bool(client.client_id == "introspector")

        def introspect_token(self, token: Token) -> dict[str, Any]:
            answer: dict[str, Any] = {
                "active": True,
                "client_id": token.clientId,
                "token_type": "Bearer",
                "scope": token.get_scope(),
                "scp": token.get_scope().split(),
                "gty": token.grantType,
                "iat": token.issuedAt,
                "iss": base,
            }
            if token.user:
                answer["username"] = token.user
                answer["sub"] = token.user
            if token.clientId != "noexp-client":
                answer["exp"] = token.issuedAt + token.get_expires_in()
            return answer

    class RevocationEndpoint(_RevocationEndpoint):  # type: ignore[misc]
        CLIENT_AUTH_METHODS = ["client_secret_basic"]

        def query_token(self, value: str, hint: str | None) -> Token | None:
            return byAccess.get(value) or byRefresh.get(value)

        def check_permission(self, token: Token, client: Client, request: Any) -> bool:
            return True

        def revoke_token(self, token: Token, request: Any) -> None:
            token.revoked = True

    server = Server(scopes_supported=list(SCOPES))
    server.register_token_generator("default", BearerTokenGenerator(
        lambda *a, **k: generate_token(42), lambda *a, **k: generate_token(48),
        lambda client, grantType: EXPIRES_IN))
    server.register_grant(ClientCredentialsGrant)
    server.register_grant(PasswordGrant)
    server.register_grant(RefreshTokenGrant)
    server.register_grant(JWTBearerGrant)
    server.register_endpoint(IntrospectionEndpoint)
    server.register_endpoint(RevocationEndpoint)

    class Headers(dict):  # type: ignore[type-arg]
        """Header names in any case (RFC 9110 §5.1)."""

        def get(self, name: str, default: Any = None) -> Any:
            return super().get(name.lower(), default)

        def __getitem__(self, name: str) -> Any:
            return super().__getitem__(name.lower())

        def __contains__(self, name: object) -> bool:
            return isinstance(name, str) and super().__contains__(name.lower())

    class Request(OAuth2Request):  # type: ignore[misc]
        def __init__(self, environ: dict[str, Any]) -> None:
            headers = Headers()
            for key, value in environ.items():
                if key.startswith("HTTP_"):
                    headers[key[5:].replace("_", "-").lower()] = value
            if environ.get("CONTENT_TYPE"):
                headers["content-type"] = environ["CONTENT_TYPE"]
            super().__init__(environ["REQUEST_METHOD"], base + environ["PATH_INFO"],
                             headers=headers)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length).decode("utf-8") if length else ""
            self._form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
            self.payload = BasicOAuth2Payload(self._form)

        @property
        def args(self) -> dict[str, str]:
            return {}

        @property
        def form(self) -> dict[str, str]:
            return self._form

    endpoints = {"/token": None, "/introspect": "introspection", "/revoke": "revocation"}

    def application(environ: dict[str, Any], startResponse: Any) -> Iterable[bytes]:
        import json

        path = environ["PATH_INFO"]
        if path not in endpoints or environ["REQUEST_METHOD"] != "POST":
            startResponse("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        request = Request(environ)
        with lock:
            name = endpoints[path]
            if name is None:
                status, body, headers = server.create_token_response(request)
            else:
                status, body, headers = server.create_endpoint_response(name, request)
        payload = json.dumps(body).encode("utf-8") if isinstance(body, dict) else body
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized"}.get(status, "Error")
        headers = [(str(k), str(v)) for k, v in (headers or [])]
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("Content-Type", "application/json"))
        startResponse(f"{status} {reason}", headers)
        return [payload if isinstance(payload, bytes) else str(payload).encode("utf-8")]

    return application


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def main(argv: list[str]) -> None:
    certFile, keyFile, jwtKeyFile = argv
    httpd = make_server("127.0.0.1", 0, lambda e, s: [], server_class=_Server,
                        handler_class=_Quiet)
    port = httpd.server_address[1]
    httpd.set_app(_server(jwtKeyFile, port))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certFile, keyFile)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    print(f"PORT {port}", flush=True)
    httpd.serve_forever()


class AuthServer:
    """The authorization server above, in a child process, with a CA for its certificate
    (``caFile``) and an RSA key whose public half it trusts for JWT-bearer assertions
    (``jwtKey``, a ``cryptography`` private key)."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.dir = tempfile.mkdtemp(prefix="bws-authserver-")
        self.ca = trustme.CA(organization_name="bws OAuth2 test CA")
        leaf = self.ca.issue_cert("127.0.0.1", "localhost")
        self.caFile = os.path.join(self.dir, "ca.pem")
        self.ca.cert_pem.write_to_path(self.caFile)
        certFile = os.path.join(self.dir, "cert.pem")
        keyFile = os.path.join(self.dir, "key.pem")
        leaf.private_key_and_cert_chain_pem.write_to_path(certFile)
        leaf.private_key_pem.write_to_path(keyFile)
        self.jwtKey = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwtKeyFile = os.path.join(self.dir, "jwt-public.pem")
        with open(jwtKeyFile, "wb") as f:
            f.write(self.jwtKey.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.auth.authserver", certFile, keyFile, jwtKeyFile],
            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode("ascii", "replace")
        if not line.startswith("PORT "):
            self.process.kill()
            err = self.process.communicate()[1].decode(errors="replace")
            raise RuntimeError(f"the authorization server did not start: {line!r} {err}")
        self.port = int(line.split()[1])
        self.url = f"https://127.0.0.1:{self.port}"

    def post(self, path: str, form: dict[str, str], client: str = "ws-client") -> Any:
        """POST ``form`` to ``path`` as ``client`` (HTTP Basic), blocking; the JSON answer."""
        import base64
        import json
        import urllib.error
        import urllib.request

        credentials = base64.b64encode(f"{client}:{CLIENTS[client]}".encode()).decode()
        request = urllib.request.Request(
            self.url + path, data=urllib.parse.urlencode(form).encode(),
            headers={"Authorization": f"Basic {credentials}"})
        context = ssl.create_default_context(cafile=self.caFile)
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            return json.loads(e.read() or b"null")

    def issue(self, scope: str = "", client: str = "ws-client", **form: str) -> dict[str, Any]:
        """A token answer from the token endpoint (client credentials unless ``form`` says
        another ``grant_type``)."""
        form.setdefault("grant_type", "client_credentials")
        if scope:
            form["scope"] = scope
        answer: dict[str, Any] = self.post("/token", form, client)
        assert "access_token" in answer, answer
        return answer

    def introspect(self, token: str) -> dict[str, Any]:
        """The introspection answer for ``token``."""
        answer: dict[str, Any] = self.post("/introspect", {"token": token}, "introspector")
        return answer

    def revoke(self, token: str) -> None:
        """Revoke ``token`` (RFC 7009)."""
        self.post("/revoke", {"token": token}, "introspector")

    def stop(self) -> None:
        """Stop the server and remove its files."""
        import shutil

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        shutil.rmtree(self.dir, ignore_errors=True)


_shared: AuthServer | None = None


def sharedAuthServer() -> AuthServer:
    """One server for the whole test process (started on first use, stopped at exit): the
    tests share no state on it but the clients and the user."""
    global _shared
    if _shared is None:
        import atexit

        _shared = AuthServer()
        atexit.register(_shared.stop)
    return _shared


if __name__ == "__main__":
    main(sys.argv[1:])
