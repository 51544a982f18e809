"""Status badges (healthchecks §6): signatures, URLs, summaries and rendering. Pure functions.

A badge is 3-state (up, late, down) by default; a 2-state badge counts late checks as up.
Project and tag badge URLs carry an 8-character HMAC of the tag keyed by the project's badge
key, so they are public but cannot be guessed for other tags or projects.

A check's badge URL carries its badge id: the check uuid encrypted with the server's badge
cipher key (`check_badge_id`). Decrypting gives the uuid back, so no per-check key is stored,
and the id reveals nothing of the uuid, which is the check's ping URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid as uuidlib
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

FORMATS = ("svg", "json", "shields")
ALL_TAGS = "*"
ALL_LABEL = "status"
TWO_STATE_SUFFIX = "-2"
SIG_LENGTH = 8

COLORS = {"up": "#4c1", "late": "#fe7d37", "down": "#e05d44"}
SHIELDS_COLORS = {"up": "success", "late": "important", "down": "critical"}

# A flat badge. Widths come from `_text_width`; the label is escaped by `render_svg`.
_SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" \
role="img" aria-label="{label}: {status}">
<title>{label}: {status}</title>
<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>\
<stop offset="1" stop-opacity=".1"/></linearGradient>
<clipPath id="r"><rect width="{width}" height="20" rx="3" fill="#fff"/></clipPath>
<g clip-path="url(#r)"><rect width="{lw}" height="20" fill="#555"/>\
<rect x="{lw}" width="{sw}" height="20" fill="{color}"/>\
<rect width="{width}" height="20" fill="url(#s)"/></g>
<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" \
font-size="11">
<text x="{lx}" y="15" fill="#010101" fill-opacity=".3">{label}</text>\
<text x="{lx}" y="14">{label}</text>
<text x="{sx}" y="15" fill="#010101" fill-opacity=".3">{status}</text>\
<text x="{sx}" y="14">{status}</text>
</g>
</svg>
"""


@dataclass(frozen=True)
class Summary:
    status: str  # up | late | down
    total: int
    grace: int
    down: int


def signature(secret: str, tag: str) -> str:
    """Keyed by the project's badge secret, which never appears in a URL: knowing one badge
    URL does not let anyone forge the URL of another tag."""
    digest = hmac.new(secret.encode(), tag.encode(), hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).decode()[:SIG_LENGTH]


def states_of(secret: str, tag: str, sig: str) -> int | None:
    """3 or 2 for a valid signature segment (2 with the `-2` suffix), None when forged."""
    states = 3
    # A signature may itself end in "-2"; only the longer form carries the suffix.
    if len(sig) == SIG_LENGTH + len(TWO_STATE_SUFFIX) and sig.endswith(TWO_STATE_SUFFIX):
        sig, states = sig[:SIG_LENGTH], 2
    if hmac.compare_digest(sig.encode(), signature(secret, tag).encode()):
        return states
    return None


def tag_url(site_root: str, badge_key: str, secret: str, tag: str, fmt: str,
            states: int) -> str:
    sig = signature(secret, tag) + (TWO_STATE_SUFFIX if states == 2 else "")
    return f"{site_root}/badge/{badge_key}/{sig}/{quote(tag, safe='*')}.{fmt}"


def _aes(key: bytes) -> Cipher[modes.ECB]:
    # One AES block is exactly one UUID: a keyed permutation of UUIDs. ECB's weakness (equal
    # blocks encrypt equally) does not apply to a single block, and the id must be stable.
    return Cipher(algorithms.AES(key), modes.ECB())


def check_badge_id(key: bytes, check_uuid: str) -> str:
    """A check's public badge id, shaped as a UUID like healthchecks' badge keys."""
    enc = _aes(key).encryptor()
    return str(uuidlib.UUID(bytes=enc.update(uuidlib.UUID(check_uuid).bytes) + enc.finalize()))


def check_of_badge_id(key: bytes, badge_id: str) -> str:
    """The check uuid a badge id stands for. A forged or mistyped id decrypts to a random
    uuid that no check has, so the caller's lookup answers 404 for it."""
    dec = _aes(key).decryptor()
    return str(uuidlib.UUID(bytes=dec.update(uuidlib.UUID(badge_id).bytes) + dec.finalize()))


def check_url(site_root: str, badge_id: str, fmt: str = "svg", states: int = 3) -> str:
    return f"{site_root}/b/{states}/{badge_id}.{fmt}"


def tag_urls(site_root: str, badge_key: str, secret: str, tag: str) -> dict[str, str]:
    """The six URLs healthchecks lists per tag: 2-state plain, 3-state with a `3` suffix."""
    urls: dict[str, str] = {}
    for fmt in FORMATS:
        urls[fmt] = tag_url(site_root, badge_key, secret, tag, fmt, 2)
        urls[f"{fmt}3"] = tag_url(site_root, badge_key, secret, tag, fmt, 3)
    return urls


def summarize(statuses: Iterable[str], states: int) -> Summary:
    """Fold check states (new, up, late, down, paused) into one badge state. New and paused
    checks count towards the total but never make a badge late or down."""
    total = grace = down = 0
    for status in statuses:
        total += 1
        grace += status == "late"
        down += status == "down"
    if down:
        return Summary("down", total, grace, down)
    if grace and states == 3:
        return Summary("late", total, grace, down)
    return Summary("up", total, grace, down)


def as_json(summary: Summary) -> dict[str, object]:
    return {"status": summary.status, "total": summary.total, "grace": summary.grace,
            "down": summary.down}


def as_shields(label: str, status: str) -> dict[str, object]:
    return {"schemaVersion": 1, "label": label, "message": status,
            "color": SHIELDS_COLORS[status]}


def _text_width(text: str) -> int:
    # Verdana 11px averages about 7 px per character; exact metrics are not worth a font file.
    return 7 * len(text) + 10


def render_svg(label: str, status: str) -> str:
    lw, sw = _text_width(label), _text_width(status)
    return _SVG.format(width=lw + sw, lw=lw, sw=sw, lx=lw / 2, sx=lw + sw / 2,
                       color=COLORS[status], label=escape(label, quote=True),
                       status=escape(status))
