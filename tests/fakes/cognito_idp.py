"""Cognito's user pool sign-in over its wire protocol (AWS JSON 1.1 on POST /, the operation
in X-Amz-Target), on 127.0.0.1, with the server's side of SRP done for real.

The pool keeps, per user, a salt and the verifier v = g^x mod N (x from the salt and
H(poolname | username ":" password)), never the password. InitiateAuth USER_SRP_AUTH
answers PASSWORD_VERIFIER with B = k*v + g^b, the salt and a secret block;
RespondToAuthChallenge PASSWORD_VERIFIER computes S = (A * v^u)^b, the key by HKDF
("Caldera Derived Key"), and accepts only the HMAC of poolname | user id | secret block |
timestamp under it: a wrong password, or a client that gets the math wrong, is refused
with NotAuthorizedException, as Cognito does. Then, per user: SOFTWARE_TOKEN_MFA (a
fixed code stands for the authenticator app), NEW_PASSWORD_REQUIRED (a temporary password,
the pool's policy applied to the new one), tokens. REFRESH_TOKEN_AUTH and RevokeToken as
documented (a revoked refresh token is refused; no new refresh token on refresh).
Tokens are RS256 JWTs with Cognito's claims, signed by the key the test gives."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

# RFC 5054's 3072-bit group, which Cognito uses, g = 2.
N_HEX = (
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD"
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED"
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F"
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B"
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510"
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7"
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C"
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF"
)
N = int(N_HEX, 16)
G = 2
WEEKDAY = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTH = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _pad(value: int | str) -> str:
    """Hex of a positive number as SRP hashes it: even length, no leading 1 bit."""
    h = value if isinstance(value, str) else format(value, "x")
    if len(h) % 2:
        return "0" + h
    return "00" + h if h[0] in "89abcdefABCDEF" else h


def _hash_hex(hex_string: str) -> str:
    return hashlib.sha256(bytes.fromhex(hex_string)).hexdigest().rjust(64, "0")


K = int(_hash_hex("00" + N_HEX + "0" + format(G, "x")), 16)


def _x(pool_name: str, user_id: str, password: str, salt_hex: str) -> int:
    inner = hashlib.sha256(f"{pool_name}{user_id}:{password}".encode()).hexdigest().rjust(64, "0")
    return int(_hash_hex(_pad(salt_hex) + inner), 16)


def _hkdf(ikm: bytes, salt: bytes) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, b"Caldera Derived Key\x01", hashlib.sha256).digest()[:16]


class IdpError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


@dataclass
class User:
    username: str
    sub: str
    salt: str
    verifier: int
    status: str = "CONFIRMED"
    mfa_code: str | None = None


@dataclass
class CognitoIdp:
    pool_id: str
    client_id: str
    key: Any
    """The RSA private key the pool signs tokens with (kid k1)."""
    access_ttl_s: int = 3600
    users: dict[str, User] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _srp: dict[str, tuple[str, int, int, str]] = field(default_factory=dict)
    _sessions: dict[str, tuple[str, str]] = field(default_factory=dict)
    _refresh: dict[str, str] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)

    @property
    def pool_name(self) -> str:
        return self.pool_id.split("_", 1)[1]

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.pool_id.split('_', 1)[0]}.amazonaws.com/{self.pool_id}"

    def add_user(self, username: str, password: str, *, temporary: bool = False,
                 mfa_code: str | None = None) -> User:
        salt = secrets.token_hex(16)
        user = User(username, f"sub-{secrets.token_hex(8)}", salt,
                    pow(G, _x(self.pool_name, username, password, salt), N),
                    "FORCE_CHANGE_PASSWORD" if temporary else "CONFIRMED", mfa_code)
        self.users[username.lower()] = user
        return user

    # -- the HTTP server -------------------------------------------------------------------
    def __enter__(self) -> CognitoIdp:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                target = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                outer.calls.append((target, body))
                try:
                    status, out = 200, outer.operation(target, body)
                except IdpError as e:
                    status, out = 400, {"__type": e.kind, "message": e.message}
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def operation(self, target: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("ClientId") != self.client_id:
            raise IdpError("ResourceNotFoundException", "User pool client does not exist.")
        if target == "InitiateAuth":
            flow = body.get("AuthFlow")
            params = body.get("AuthParameters") or {}
            if flow == "USER_SRP_AUTH":
                return self._start_srp(params)
            if flow == "REFRESH_TOKEN_AUTH":
                return self._refresh_tokens(params.get("REFRESH_TOKEN", ""))
            raise IdpError("InvalidParameterException", f"Auth flow {flow} is not enabled.")
        if target == "RespondToAuthChallenge":
            return self._answer(body.get("ChallengeName"), body.get("ChallengeResponses") or {},
                                body.get("Session"))
        if target == "RevokeToken":
            if body.get("Token") not in self._refresh:
                raise IdpError("UnsupportedTokenTypeException", "Invalid token.")
            self.revoked.add(body["Token"])
            return {}
        raise IdpError("InvalidAction", f"{target} is not in this fake.")

    def _start_srp(self, params: dict[str, str]) -> dict[str, Any]:
        user = self.users.get(str(params.get("USERNAME", "")).lower())
        a = int(params.get("SRP_A") or "0", 16)
        if a % N == 0:
            raise IdpError("InvalidParameterException", "SRP_A is not valid.")
        # An unknown user gets a challenge all the same (PreventUserExistenceErrors), and is
        # refused at the verifier like a wrong password.
        salt = user.salt if user else secrets.token_hex(16)
        verifier = user.verifier if user else pow(G, secrets.randbelow(N), N)
        b = secrets.randbelow(N - 1) + 1
        big_b = (K * verifier + pow(G, b, N)) % N
        block = base64.b64encode(secrets.token_bytes(64)).decode()
        user_id = user.username if user else str(params.get("USERNAME"))
        self._srp[block] = (user_id, a, b, salt)
        return {"ChallengeName": "PASSWORD_VERIFIER", "ChallengeParameters": {
            "SALT": salt, "SRP_B": format(big_b, "x"), "SECRET_BLOCK": block,
            "USER_ID_FOR_SRP": user_id, "USERNAME": user_id}}

    def _check_claim(self, answer: dict[str, str]) -> User:
        block = answer.get("PASSWORD_CLAIM_SECRET_BLOCK", "")
        if block not in self._srp:
            raise IdpError("NotAuthorizedException", "Incorrect username or password.")
        user_id, a, b, salt = self._srp.pop(block)
        user = self.users.get(user_id.lower())
        stamp = answer.get("TIMESTAMP", "")
        if not re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} \d{1,2} "
                            r"\d{2}:\d{2}:\d{2} UTC \d{4}", stamp):
            raise IdpError("InvalidParameterException", "TIMESTAMP is not in Cognito's format.")
        now = datetime.now(UTC)
        expected_now = (f"{WEEKDAY[now.weekday()]} {MONTH[now.month - 1]} {now.day} "
                        f"{now:%H:%M:%S} UTC {now.year}")
        if stamp[-4:] != expected_now[-4:]:
            raise IdpError("NotAuthorizedException", "The timestamp is too far off.")
        if user is None:
            raise IdpError("NotAuthorizedException", "Incorrect username or password.")
        big_b = (K * user.verifier + pow(G, b, N)) % N
        u = int(_hash_hex(_pad(a) + _pad(big_b)), 16)
        s = pow(a * pow(user.verifier, u, N), b, N)
        key = _hkdf(bytes.fromhex(_pad(s)), bytes.fromhex(_pad(format(u, "x"))))
        message = (self.pool_name.encode() + user_id.encode() + base64.b64decode(block)
                   + stamp.encode())
        signature = base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(signature, answer.get("PASSWORD_CLAIM_SIGNATURE", "")):
            raise IdpError("NotAuthorizedException", "Incorrect username or password.")
        return user

    def _answer(self, challenge: str | None, answer: dict[str, str],
                session: str | None) -> dict[str, Any]:
        if challenge == "PASSWORD_VERIFIER":
            user = self._check_claim(answer)
        else:
            if session not in self._sessions or self._sessions[session][1] != challenge:
                raise IdpError("NotAuthorizedException", "Invalid session for the user.")
            username, _ = self._sessions.pop(session)  # type: ignore[arg-type]
            user = self.users[username.lower()]
            if answer.get("USERNAME", "").lower() != user.username.lower():
                raise IdpError("NotAuthorizedException", "Invalid session for the user.")
            if challenge == "SOFTWARE_TOKEN_MFA":
                if answer.get("SOFTWARE_TOKEN_MFA_CODE") != user.mfa_code:
                    raise IdpError("CodeMismatchException", "Invalid code received for user")
                return self._tokens(user)
            if challenge == "NEW_PASSWORD_REQUIRED":
                new = answer.get("NEW_PASSWORD", "")
                if not (len(new) >= 8 and re.search(r"[a-z]", new) and re.search(r"[A-Z]", new)
                        and re.search(r"\d", new) and re.search(r"[^A-Za-z0-9]", new)):
                    raise IdpError("InvalidPasswordException",
                                   "Password does not conform to policy.")
                user.salt = secrets.token_hex(16)
                user.verifier = pow(G, _x(self.pool_name, user.username, new, user.salt), N)
                user.status = "CONFIRMED"
        return self._next(user)

    def _next(self, user: User) -> dict[str, Any]:
        for challenge, due in (("NEW_PASSWORD_REQUIRED", user.status == "FORCE_CHANGE_PASSWORD"),
                               ("SOFTWARE_TOKEN_MFA", user.mfa_code is not None)):
            if due:
                session = secrets.token_urlsafe(24)
                self._sessions[session] = (user.username, challenge)
                return {"ChallengeName": challenge, "Session": session,
                        "ChallengeParameters": {"USER_ID_FOR_SRP": user.username}}
        return self._tokens(user)

    def _tokens(self, user: User, refresh: bool = True) -> dict[str, Any]:
        import jwt as pyjwt

        now = int(time.time())
        common = {"sub": user.sub, "iss": self.issuer, "auth_time": now, "iat": now,
                  "exp": now + self.access_ttl_s, "jti": secrets.token_hex(8)}
        access = pyjwt.encode({**common, "client_id": self.client_id, "token_use": "access",
                               "scope": "aws.cognito.signin.user.admin",
                               "username": user.username}, self.key, algorithm="RS256",
                              headers={"kid": "k1"})
        id_token = pyjwt.encode({**common, "aud": self.client_id, "token_use": "id",
                                 "cognito:username": user.username}, self.key,
                                algorithm="RS256", headers={"kid": "k1"})
        result: dict[str, Any] = {"AccessToken": access, "IdToken": id_token,
                                  "ExpiresIn": self.access_ttl_s, "TokenType": "Bearer"}
        if refresh:
            token = secrets.token_urlsafe(48)
            self._refresh[token] = user.username
            result["RefreshToken"] = token
        return {"ChallengeParameters": {}, "AuthenticationResult": result}

    def _refresh_tokens(self, token: str) -> dict[str, Any]:
        if token not in self._refresh or token in self.revoked:
            raise IdpError("NotAuthorizedException", "Refresh Token has been revoked")
        return self._tokens(self.users[self._refresh[token].lower()], refresh=False)
