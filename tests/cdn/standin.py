"""A CDN stand-in for Akamai EdgeAuth and CloudFront signed URLs/cookies: serves the media
folder under /media/ once the request's token checks out, using independent implementations
of each format, never vodgate's code:

- akamai: the token is made again with Akamai's own `akamai-edgeauth` package (PyPI) from
  the fields it carries (st, exp, acl, id) and the shared key, and must be identical; then
  the time window and the ACL are checked as Akamai's Auth Token 2.0 behavior does.
- cloudfront: the RSA-SHA1 signature is verified over the exact policy bytes with the
  `cryptography` package and the public key; the policy must be what botocore's
  `CloudFrontSigner.build_policy` writes for the same resource and times, and the signed URL
  what botocore's `generate_presigned_url` makes with the private key; then the policy's
  Resource wildcard and dates are enforced against the request.

    python3 standin.py akamai <port> <media dir> <log file> <hex key>
    python3 standin.py cloudfront <port> <media dir> <log file> <private key PEM> <key pair id>

Answers 200/206 with the file, 403 when the token is missing or refused, logging
"<status> <path?query>" per request.
"""

import base64
import datetime
import hmac
import http.server
import json
import os
import re
import sys
import time
import urllib.parse
from http.cookies import SimpleCookie

FORMAT, PORT, MEDIA, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def log(status, target):
    with open(LOG, "a") as f:
        f.write(f"{status} {target}\n")


def cookies_of(headers):
    c = SimpleCookie()
    for h in headers.get_all("Cookie") or []:
        for part in h.split(";"):
            if "=" in part:
                k, v = part.strip().split("=", 1)
                c[k] = v
    return {k: m.value for k, m in c.items()}


if FORMAT == "akamai":
    from akamai.edgeauth import EdgeAuth

    KEY = sys.argv[5]

    def check(path, query, cookies, url):
        token = query.get("hdnts", [None])[0] or cookies.get("hdnts")
        if not token:
            return "no token"
        fields = dict(f.split("=", 1) for f in token.split("~") if "=" in f)
        try:
            st, exp, acl, sid = int(fields["st"]), int(fields["exp"]), fields["acl"], fields["id"]
        except (KeyError, ValueError):
            return "malformed"
        expected = EdgeAuth(
            key=KEY, algorithm="sha256", start_time=st, end_time=exp, session_id=sid
        ).generate_acl_token(acl)
        if not hmac.compare_digest(expected, token):
            return "hmac mismatch"
        now = int(time.time())
        if now < st or now >= exp:
            return "expired"
        if not (path.startswith(acl[:-1]) if acl.endswith("*") else path == acl):
            return "outside acl"
        return None

elif FORMAT == "cloudfront":
    from botocore.signers import CloudFrontSigner
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    with open(sys.argv[5], "rb") as f:
        PRIVATE = serialization.load_pem_private_key(f.read(), password=None)
    PUBLIC = PRIVATE.public_key()
    KEY_PAIR_ID = sys.argv[6]
    SIGNER = CloudFrontSigner(
        KEY_PAIR_ID, lambda m: PRIVATE.sign(m, padding.PKCS1v15(), hashes.SHA1())
    )

    def unb64(s):
        return base64.b64decode(s.replace("-", "+").replace("_", "=").replace("~", "/"))

    def check(path, query, cookies, url):
        get = lambda q, c: query.get(q, [None])[0] or cookies.get(c)
        policy_b64 = get("Policy", "CloudFront-Policy")
        sig_b64 = get("Signature", "CloudFront-Signature")
        kid = get("Key-Pair-Id", "CloudFront-Key-Pair-Id")
        if not (policy_b64 and sig_b64 and kid):
            return "no token"
        if kid != KEY_PAIR_ID:
            return "unknown key pair"
        policy = unb64(policy_b64)
        try:
            PUBLIC.verify(unb64(sig_b64), policy, padding.PKCS1v15(), hashes.SHA1())
        except Exception:
            return "bad signature"
        stmt = json.loads(policy)["Statement"][0]
        resource, cond = stmt["Resource"], stmt["Condition"]
        less = cond["DateLessThan"]["AWS:EpochTime"]
        greater = cond.get("DateGreaterThan", {}).get("AWS:EpochTime")
        # The same policy as botocore writes it, and the same signed URL botocore makes.
        built = SIGNER.build_policy(
            resource,
            datetime.datetime.fromtimestamp(less, datetime.timezone.utc),
            date_greater_than=datetime.datetime.fromtimestamp(greater, datetime.timezone.utc)
            if greater is not None
            else None,
        )
        if built.encode() != policy:
            return f"policy differs from botocore's: {built}"
        presigned = SIGNER.generate_presigned_url(resource, policy=built)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(presigned).query)
        if q["Signature"][0] != sig_b64 or q["Policy"][0] != policy_b64:
            return "differs from botocore's signed URL"
        now = int(time.time())
        if now >= less or (greater is not None and now <= greater):
            return "expired"
        pattern = "^" + ".*".join(re.escape(p) for p in resource.split("*")) + "$"
        if not re.match(pattern, url):
            return "outside resource"
        return None

else:
    sys.exit(f"unknown format {FORMAT}")


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def cors(self):
        origin = self.headers.get("Origin")
        if origin:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Access-Control-Allow-Credentials", "true")
            self.send_header("Vary", "Origin")

    def do_OPTIONS(self):
        self.send_response(204)
        self.cors()
        self.send_header("Access-Control-Allow-Headers", "Range")
        self.end_headers()

    def do_GET(self):
        parts = urllib.parse.urlsplit(self.path)
        path = parts.path
        query = urllib.parse.parse_qs(parts.query)
        url = f"http://{self.headers.get('Host')}{path}"
        why = check(path, query, cookies_of(self.headers), url)
        if why:
            log(403, self.path)
            self.send_response(403)
            self.cors()
            self.end_headers()
            self.wfile.write(why.encode())
            return
        rel = urllib.parse.unquote(path)[len("/media/"):]
        file = os.path.join(MEDIA, rel)
        if not path.startswith("/media/") or ".." in rel or not os.path.isfile(file):
            log(404, self.path)
            self.send_response(404)
            self.end_headers()
            return
        with open(file, "rb") as f:
            data = f.read()
        m = re.match(r"^bytes=(\d+)-(\d*)$", self.headers.get("Range") or "")
        status, start, end = 200, 0, len(data) - 1
        if m:
            status, start = 206, int(m.group(1))
            end = min(int(m.group(2)), len(data) - 1) if m.group(2) else len(data) - 1
        self.send_response(status)
        self.cors()
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.wfile.write(data[start : end + 1])
        log(status, self.path)


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
