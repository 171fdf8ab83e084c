"""The authority's branding of its packs: name, logo, accent colour and footer text, checked before anything runs.

Four parameters (layered like every other, see :mod:`cinb.config`) brand every pack and the month's index page
without forking a notebook or the template: ``brand_name``, ``brand_logo`` (a local PNG, JPEG, GIF, WebP or SVG
file, embedded as a ``data:`` URI, never fetched or linked), ``brand_accent`` (``#RRGGBB``, used for heading rules,
borders, the cover band and links; it must reach WCAG 2.2's 4.5:1 contrast on white, and so white text on it does
too) and ``brand_footer`` (a line printed at the foot of every PDF page and at the end of the HTML).

They reach the renderer through a pack's recorded settings (``_settings``): :meth:`Brand.from_settings` reads
them back, checked again, so user notebooks need no change. An empty value means "no branding" for that item.

Only the standard library is used, with :mod:`cinb.errors` and :mod:`cinb.files`: :mod:`cinb.config` checks the
parameters with it, and the renderer, the index page and the input hash read it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .errors import UsageError

__all__ = [
    "BRAND_PARAMETERS",
    "LOGO_MAX_BYTES",
    "MIN_CONTRAST",
    "Brand",
    "Logo",
    "brand_inputs",
    "check_accent",
    "check_text",
    "contrast_ratio",
    "read_logo",
    "recorded_settings",
    "relative_luminance",
]

#: The branding parameters, as named in :data:`cinb.config.DEFAULTS`.
BRAND_PARAMETERS = ("brand_name", "brand_logo", "brand_accent", "brand_footer")
#: The largest logo file accepted (it is embedded, base64, in every pack).
LOGO_MAX_BYTES = 512 * 1024
#: WCAG 2.2 success criterion 1.4.3 (AA): contrast of normal-size text.
MIN_CONTRAST = 4.5
#: Longest brand name and footer, in characters.
NAME_MAX, FOOTER_MAX = 120, 200

_HEX = re.compile(r"#[0-9A-Fa-f]{6}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LOGO_KINDS = "PNG, JPEG, GIF, WebP or SVG"
_SVG_NS = "{http://www.w3.org/2000/svg}"
# SVG content that runs, fetches or embeds a foreign document: refused rather than cleaned, so that what is
# printed is exactly the file the authority gave.
_SVG_FORBIDDEN = {"script": "a script", "foreignobject": "a foreignObject (embedded HTML)",
                  "iframe": "an iframe", "embed": "an embed", "object": "an object", "handler": "an event handler",
                  "listener": "an event listener", "set": "an animation that can rewrite links",
                  "animate": "an animation that can rewrite links"}
_URL_IN_VALUE = re.compile(r"url\s*\(\s*['\"]?\s*([^'\")\s]*)", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"@import|expression\s*\(|javascript:|behavior\s*:", re.IGNORECASE)


# --------------------------------------------------------------------------------------------------------------
# Colour
# --------------------------------------------------------------------------------------------------------------

def relative_luminance(colour: str) -> float:
    """WCAG 2.2 relative luminance of a ``#RRGGBB`` colour (0 for black, 1 for white).

    Examples
    --------
    >>> relative_luminance("#FFFFFF"), relative_luminance("#000000")
    (1.0, 0.0)
    """
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2.2 contrast ratio of two ``#RRGGBB`` colours, from 1 (the same) to 21 (black on white).

    Examples
    --------
    >>> round(contrast_ratio("#767676", "#FFFFFF"), 2)
    4.54
    """
    la, lb = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _ratio_text(ratio: float) -> str:
    # Rounded down, so that a colour that fails never reads as "4.5:1".
    return f"{math.floor(ratio * 100) / 100:.2f}".rstrip("0").rstrip(".")


def check_accent(value: Any, where: str | None = None) -> str | None:
    """The accent colour ``value`` as ``#RRGGBB`` (upper case), or None for no accent (None or empty).

    The accent colours text (links) on white, and white text is set on it (the cover band): both need WCAG 2.2's
    4.5:1 for normal text, and as contrast is symmetric one check covers both.

    Raises
    ------
    UsageError
        When ``value`` is not ``#RRGGBB`` or its contrast with white is below 4.5:1; the message gives the
        ratio and the minimum.
    """
    source = f" (from {where})" if where else ""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or not _HEX.fullmatch(value.strip()):
        raise UsageError(f"brand_accent must be a colour written #RRGGBB (six hexadecimal digits, e.g. #005EA5), "
                         f"not {_shown(value)}{source}")
    colour = value.strip().upper()
    ratio = contrast_ratio(colour, "#FFFFFF")
    if ratio < MIN_CONTRAST:
        raise UsageError(f"brand_accent {colour} has a contrast of {_ratio_text(ratio)}:1 on white; at least "
                         f"{MIN_CONTRAST}:1 is needed for text (links in the accent colour, white text on the "
                         f"cover band) — choose a darker colour{source}")
    return colour


def check_text(name: str, value: Any, where: str | None = None) -> str | None:
    """``brand_name`` or ``brand_footer`` stripped, or None when not set (None or empty).

    Raises
    ------
    UsageError
        When ``value`` is not text, is longer than its limit (120 characters for the name, 200 for the footer)
        or holds a line break or other control character.
    """
    limit = NAME_MAX if name == "brand_name" else FOOTER_MAX
    source = f" (from {where})" if where else ""
    if value is None:
        return None
    if not isinstance(value, str):
        raise UsageError(f"{name} must be text of at most {limit} characters, not {_shown(value)}{source}")
    text = value.strip()
    if len(text) > limit:
        raise UsageError(f"{name} must be text of at most {limit} characters; it has {len(text)}{source}")
    if _CONTROL.search(text):
        raise UsageError(f"{name} must be one line of text without control characters, not {_shown(value)}"
                         f"{source}")
    return text or None


def _shown(value: Any) -> str:
    if isinstance(value, (str, int, float, bool)) or value is None:
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    return f"a {type(value).__name__}"


# --------------------------------------------------------------------------------------------------------------
# Logo
# --------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Logo:
    """A checked logo file: its name (no folders), type sniffed from its bytes, sha256 and the bytes."""

    file: str
    mime: str
    sha256: str
    data: bytes

    def data_uri(self) -> str:
        """The logo as a ``data:`` URI (base64): embedded in the page, never fetched."""
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    def record(self) -> dict[str, str]:
        """What a pack records of the logo: its file name and sha256 (never its bytes)."""
        return {"file": self.file, "sha256": self.sha256}


def read_logo(path: Any, where: str | None = None) -> Logo | None:
    """Read and check the logo file ``path``; None when no logo is set (None or empty).

    The file must exist, be readable, hold at most 512 KiB and be a PNG, JPEG, GIF, WebP or SVG image, told by
    its bytes, not its name. An SVG is refused when it holds a script, an event handler, a ``foreignObject``, an
    animation, an entity declaration, or any reference outside itself (``href`` to http, file or another file;
    ``url(...)`` other than ``#id`` or a data: image; ``@import``). Files are cached by path, size and time
    of change, so a batch reads each logo once.

    Raises
    ------
    UsageError
        Naming ``brand_logo`` and the file, saying what is wrong.
    """
    if path is None or (isinstance(path, str) and not path.strip()):
        return None
    source = f" (from {where})" if where else ""
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(f"brand_logo must be the path of a {_LOGO_KINDS} file, not {_shown(path)}{source}")
    file = Path(os.path.expanduser(os.fspath(path).strip() if isinstance(path, str) else os.fspath(path)))
    try:
        stat = file.stat()
    except FileNotFoundError:
        raise UsageError(f"brand_logo {file}: no such file; give the path of a {_LOGO_KINDS} file (relative "
                         f"to the folder cinb runs in, or absolute){source}") from None
    except OSError as exc:
        raise UsageError(f"brand_logo {file}: cannot read it ({exc.strerror or exc}){source}") from None
    if file.is_dir():
        raise UsageError(f"brand_logo {file} is a folder; give the path of a {_LOGO_KINDS} file{source}")
    try:
        return _read_logo(str(file.resolve()), stat.st_size, stat.st_mtime_ns, str(file))
    except UsageError as exc:
        raise UsageError(f"{exc}{source}") from None


@functools.lru_cache(maxsize=16)
def _read_logo(resolved: str, size: int, mtime_ns: int, shown: str) -> Logo:
    if size > LOGO_MAX_BYTES:
        raise UsageError(f"brand_logo {shown} is {size / 1024:.0f} KiB; a logo may be at most "
                         f"{LOGO_MAX_BYTES // 1024} KiB (it is embedded in every pack): export it smaller")
    try:
        data = Path(resolved).read_bytes()
    except OSError as exc:
        raise UsageError(f"brand_logo {shown}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > LOGO_MAX_BYTES:  # it grew since it was looked at
        raise UsageError(f"brand_logo {shown} is over {LOGO_MAX_BYTES // 1024} KiB; export it smaller")
    if not data:
        raise UsageError(f"brand_logo {shown} is empty; give a {_LOGO_KINDS} file")
    mime = _sniff(data)
    if mime is None:
        raise UsageError(f"brand_logo {shown} is not a {_LOGO_KINDS} image (its content was checked, not its "
                         "name); export the logo in one of these formats")
    if mime == "image/svg+xml":
        _check_svg(data, shown)
    return Logo(Path(shown).name, mime, hashlib.sha256(data).hexdigest(), data)


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    # An SVG: XML whose root element is <svg> (after an optional declaration, comments and blank space).
    head = re.sub(r"^(\s*(<\?xml[^>]*\?>|<!--.*?-->))*\s*", "", text[:4096], flags=re.DOTALL)
    if re.match(r"<(svg:)?svg[\s>/]", head) or re.match(r"<!DOCTYPE\s+svg", head, re.IGNORECASE):
        return "image/svg+xml"
    return None


def _check_svg(data: bytes, shown: str) -> None:
    text = data.decode("utf-8-sig")

    def refuse(what: str) -> UsageError:
        return UsageError(f"brand_logo {shown}: an SVG logo may not contain {what}; remove it from the file "
                          "or export the logo as PNG")

    lowered = text.lower()
    # A DOCTYPE naming the SVG DTD (as drawing programs write it) is harmless: nothing fetches it. Entities are
    # not: they can expand without limit or pull in files.
    if "<!entity" in lowered or re.search(r"<!doctype[^>]*\[", lowered):
        raise refuse("an entity declaration (<!ENTITY> or a DOCTYPE with an internal subset)")
    if "<?xml-stylesheet" in lowered:
        raise refuse("a reference to an external stylesheet (<?xml-stylesheet?>)")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise UsageError(f"brand_logo {shown} is not a well-formed SVG ({exc}); export it again") from None
    if root.tag not in (f"{_SVG_NS}svg", "svg"):
        raise UsageError(f"brand_logo {shown} is not an SVG image (its root element is not <svg>)")
    for element in root.iter():
        tag = str(element.tag).rsplit("}", 1)[-1]
        local = tag.lower()
        if local in _SVG_FORBIDDEN or local.startswith("animate"):
            raise refuse(_SVG_FORBIDDEN.get(local, "an animation that can rewrite links") + f" (<{tag}>)")
        if local == "style" and element.text:
            _check_css(element.text, refuse)
        for name, value in element.attrib.items():
            attr = name.rsplit("}", 1)[-1].lower()
            if attr.startswith("on"):
                raise refuse(f"an event handler ({attr}=)")
            if attr in ("href", "src") and not _internal_reference(value):
                raise refuse(f"a reference outside the file ({attr}={_shown(value)})")
            if attr == "style" or "url(" in value.lower():
                _check_css(value, refuse)


def _internal_reference(value: str) -> bool:
    value = value.strip()
    return value.startswith("#") or bool(re.match(r"data:image/(png|jpeg|gif|webp)[;,]", value, re.IGNORECASE))


def _check_css(css: str, refuse) -> None:
    if _CSS_IMPORT.search(css):
        raise refuse("a style that imports or runs something (@import, expression, javascript:)")
    for target in _URL_IN_VALUE.findall(css):
        if not _internal_reference(target):
            raise refuse(f"a reference outside the file (url({target[:60]}))")


# --------------------------------------------------------------------------------------------------------------
# The branding of a pack
# --------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Brand:
    """The checked branding of a pack or an index page; every field None means no branding at all.

    Build it with :meth:`from_settings` (from parameters or a pack's recorded settings) so that every value is
    checked; ``accent`` is ``#RRGGBB``, ``name`` and ``footer`` are single lines of text.
    """

    name: str | None = None
    logo: Logo | None = None
    accent: str | None = None
    footer: str | None = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None, where: str | None = None) -> "Brand":
        """The branding named by ``brand_*`` keys of ``settings`` (other keys are ignored), checked.

        ``brand_logo`` is a path; the file is read (and checked) again.

        Raises
        ------
        UsageError
            When a value is refused (see :func:`check_text`, :func:`check_accent`, :func:`read_logo`).
        """
        settings = settings or {}
        return cls(name=check_text("brand_name", settings.get("brand_name"), where),
                   logo=read_logo(settings.get("brand_logo"), where),
                   accent=check_accent(settings.get("brand_accent"), where),
                   footer=check_text("brand_footer", settings.get("brand_footer"), where))

    def __bool__(self) -> bool:
        return any((self.name, self.logo, self.accent, self.footer))

    @property
    def logo_alt(self) -> str:
        """The logo's alternative text: ``"<name> logo"``, or ``"Authority logo"`` without a name."""
        return f"{self.name} logo" if self.name else "Authority logo"

    def record(self) -> dict[str, Any]:
        """The branding as recorded in a pack's settings and input hash (the logo by file name and sha256)."""
        return {"brand_name": self.name, "brand_logo": self.logo.record() if self.logo else None,
                "brand_accent": self.accent, "brand_footer": self.footer}


def recorded_settings(settings: Mapping[str, Any] | None, brand: Brand | None = None) -> dict[str, Any]:
    """``settings`` as a pack records them: ``brand_logo`` becomes its file name and sha256 (never the bytes).

    Keys other than ``brand_logo`` are kept as they are; without a ``brand_logo`` key nothing changes.
    """
    out = dict(settings or {})
    if out.get("brand_logo"):
        brand = brand if brand is not None else Brand.from_settings(out)
        out["brand_logo"] = brand.logo.record() if brand.logo else None
    return out


def brand_inputs(settings: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What a pack's input hash takes from its branding (logo by content), or None when there is none."""
    brand = Brand.from_settings({k: v for k, v in (settings or {}).items() if k in BRAND_PARAMETERS})
    return brand.record() if brand else None
