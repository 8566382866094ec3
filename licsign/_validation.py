"""The issuer's one place for checking what people give it: ids, names, e-mails, terms.

Built on the verifier's own rules (``licverify/_fields.py``, ``licverify/_license.py``,
docs/format.md §7.3), so what licsign accepts is exactly what licverify reads: an id
the verifier would refuse is refused here, before anything is recorded or signed,
with a message that says what to give instead. The license encoder, which decodes
what it encoded (``encode_license_payload``), stays the last gate behind these checks.

Every check raises ``InvalidFieldError``, an ``InvalidInputError`` (code
``invalid-input``) whose ``field`` names what was refused (``product_id``,
``email``, ``counter`` ...), so a command line can point at its own option.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from licsign._errors import InvalidInputError
from licverify import LicenseError
from licverify._fields import (
    ID_CHARS,
    MAX_TEXT,
    NAME_CHARS,
    normalize_user,
    normalize_users,
    scalar_field,
    version_text_ok,
)
from licverify._license import (
    AT_EXPIRY,
    DEVICE_MATCH_WORDS,
    EXPIRING_TYPES,
    LICENSE_TYPES,
    MAX_ACTIVATION_TERM,
    MAX_COUNT,
    MAX_FEATURES,
    MAX_REFRESH,
    MIN_ACTIVATION_TERM,
    MIN_REFRESH,
)

__all__ = [
    "MAX_COMPONENTS",
    "MAX_LIMIT",
    "MIN_COMPONENTS",
    "InvalidFieldError",
    "activation_term",
    "at_expiry",
    "combination",
    "component_name",
    "counter",
    "counter_name",
    "counter_spec",
    "customer_id",
    "device_label",
    "device_match",
    "display_name",
    "email",
    "expiry",
    "feature_name",
    "features",
    "free_text",
    "grace",
    "license_id",
    "license_type",
    "limit",
    "min_components",
    "one_of",
    "order_id",
    "product_features",
    "product_id",
    "refresh",
    "required_components",
    "user_email",
    "user_max_devices",
    "users",
    "vendor_name",
    "version",
]

#: The fewest fingerprint components an activation request may carry: machine-id and
#: one more, so a cloned machine id alone never takes a seat (docs/adr/0009). Not a
#: verifier rule (the verifier matches fingerprints, the ledger counts them).
MIN_COMPONENTS = 2
#: The most components a fingerprint holds (format §10: a device fingerprint is a map
#: of at most 64 entries, ``licverify._fields.fingerprint_field``).
MAX_COMPONENTS = 64
#: The largest seat limit a license may state (format §7.3: an unsigned 32-bit count).
MAX_LIMIT = MAX_COUNT
#: RFC 5321 §4.5.3.1.3: a forward path is at most 256 octets, 254 of them the address.
MAX_EMAIL = 254
#: The largest counter limit or overage the verifier reads (``licverify._license``
#: decodes them as integers from 0 to 2**63 - 1; it has no named constant for it).
MAX_COUNTER = 2**63 - 1
#: What the command line's ``--counter NAME=LIMIT[+OVERAGE]`` accepts per number: 18
#: digits always fit ``MAX_COUNTER``, and a longer number is a typo, not a limit.
_COUNTER_DIGITS = 18

_ID_HINT = "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"


class InvalidFieldError(InvalidInputError):
    """One field's value is refused.

    Attributes:
        field: what was refused, in the library's words (``product_id``,
            ``customer_id``, ``license_id``, ``name``, ``vendor``, ``email``,
            ``feature``, ``product_features``, ``component``, ``min_components``,
            ``counter``, ``counters``, ``max_version``, ``device_match``, ``limits``,
            ``user``, ``max_devices``, ``type``, ``expires``, ``grace``, ``lease``, ``refresh``,
            ``at_expiry``, ``expires_after_activation``, ``order_id``, ``reference``, ``status``).
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


# --- ids and names ------------------------------------------------------------------------------


def _identifier(value: str, field: str) -> str:
    if not isinstance(value, str) or not ID_CHARS.match(value):
        raise InvalidFieldError(field, f"{value!r}: {_ID_HINT}")
    return value


def product_id(value: str) -> str:
    """A product id as licenses carry it (format §7, ``ID_CHARS``); returned unchanged.

    Raises:
        InvalidFieldError: (``product_id``) not 1-64 letters, digits, ``.``, ``_``
            or ``-`` starting with a letter or digit.
    """
    return _identifier(value, "product_id")


def customer_id(value: str) -> str:
    """A customer id as licenses carry it (format §7, ``ID_CHARS``); returned unchanged.

    Raises:
        InvalidFieldError: (``customer_id``) as for ``product_id``.
    """
    return _identifier(value, "customer_id")


def license_id(value: str) -> str:
    """A license id as licenses carry it (format §7, ``ID_CHARS``); returned unchanged.

    Raises:
        InvalidFieldError: (``license_id``) as for ``product_id``.
    """
    return _identifier(value, "license_id")


def order_id(value: str) -> str:
    """An order id (``ID_CHARS``, as product and customer ids); returned unchanged.

    Raises:
        InvalidFieldError: (``order_id``) as for ``product_id``.
    """
    return _identifier(value, "order_id")


def one_of(value: str, allowed: Iterable[str], field: str) -> str:
    """``value`` if it is one of ``allowed`` (a license status, say); returned unchanged.

    Raises:
        InvalidFieldError: (``field``) anything else; the message lists what is allowed.
    """
    choices = list(allowed)
    if value not in choices:
        raise InvalidFieldError(field, f"{value!r}: use one of {', '.join(choices)}")
    return value


def free_text(value: str, field: str) -> str:
    """Free text a vendor gives about an order (its reference, a manager's name), as given.

    Like a device label it may hold any character but NUL (which PostgreSQL
    cannot store): it is recorded as typed or pasted and escaped wherever it
    is shown (docs/security.md, "Terminal output").

    Raises:
        InvalidFieldError: (``field``) blank, longer than 256 characters, or with a NUL.
    """
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT or "\x00" in value:
        raise InvalidFieldError(field, f"{value!r}: use 1-{MAX_TEXT} characters (no NUL)")
    return value


def _printable(value: object) -> bool:
    return (
        isinstance(value, str)
        and bool(value.strip())
        and len(value) <= MAX_TEXT
        and value.isprintable()
    )


def display_name(value: str) -> str:
    """A product's or customer's display name: 1 to 256 printable characters.

    Raises:
        InvalidFieldError: (``name``) empty, blank, too long, or with a control,
            format (bidi, zero-width) or separator character.
    """
    if not _printable(value):
        raise InvalidFieldError("name", f"{value!r}: use 1-{MAX_TEXT} printable characters")
    return value


def device_label(value: str) -> str:
    """A device's label from an activation request, as the ledger stores it.

    A label is the customer's own text: it is recorded as sent and escaped
    wherever it is shown (docs/security.md, "Terminal output"). Only NUL is
    refused, on both engines alike: PostgreSQL cannot store it in text, and
    no client of ours sends it (``licverify request --label`` takes printable
    text only).

    Raises:
        InvalidFieldError: (``label``) it contains a NUL character.
    """
    if "\x00" in value:
        raise InvalidFieldError("label", "the request's label contains a NUL character")
    return value


def vendor_name(value: str) -> str:
    """The vendor name written as the issuer of every license (``iss``, at most 256 characters).

    Raises:
        InvalidFieldError: (``vendor``) as for ``display_name``.
    """
    if not _printable(value):
        raise InvalidFieldError(
            "vendor", f"vendor name must be 1 to {MAX_TEXT} printable characters"
        )
    return value


def email(value: str) -> str:
    """A contact e-mail in the one form users are stored and compared in (``normalize_user``).

    Returns:
        The address trimmed, in NFC and case-folded.

    Raises:
        InvalidFieldError: (``email``) an invisible or control character (the
            message names its code point), no ``@``, a space, or longer than
            254 characters.
    """
    try:
        normal = normalize_user(value)
    except ValueError as exc:
        raise InvalidFieldError("email", str(exc)) from None
    if "@" not in normal or len(normal) > MAX_EMAIL or " " in normal or not normal.isprintable():
        raise InvalidFieldError("email", f"{normal!r} is not an e-mail address")
    return normal


def user_email(value: str) -> str:
    """A license user's identity (normally an e-mail), in the one form requests are compared in.

    What ``licverify request --user`` sends after ``normalize_user``, so a user
    assigned here is the user a request names: an ``@`` is not required, since a
    license's allowed users (``licsign issue --user``) may name people otherwise.

    Returns:
        The identity trimmed, in NFC and case-folded.

    Raises:
        InvalidFieldError: (``user``) empty, longer than 256 characters, or with
            an invisible or control character (the message names its code point).
    """
    try:
        normal = normalize_user(value)
    except ValueError as exc:
        raise InvalidFieldError("user", str(exc)) from None
    if len(normal) > MAX_TEXT or not normal.isprintable():
        raise InvalidFieldError("user", f"use 1 to {MAX_TEXT} printable characters for a user")
    return normal


def user_max_devices(value: int | None) -> int | None:
    """A user's own device cap on a license: None (the license's alone) or 1 to 2**32 - 1.

    Raises:
        InvalidFieldError: (``max_devices``) anything else.
    """
    if value is not None and (type(value) is not int or not 1 <= value <= MAX_LIMIT):
        raise InvalidFieldError(
            "max_devices", f"a user's device cap must be an integer from 1 to {MAX_LIMIT}"
        )
    return value


def feature_name(value: str) -> str:
    """A feature name (format §7.3, ``NAME_CHARS``); returned unchanged.

    Raises:
        InvalidFieldError: (``feature``) not 1-64 letters, digits or ``._:/-``
            starting with a letter or digit.
    """
    if not isinstance(value, str) or not NAME_CHARS.match(value):
        raise InvalidFieldError("feature", f"{value!r} is not a valid feature name")
    return value


def component_name(value: str) -> str:
    """A fingerprint component name (format §10, ``NAME_CHARS``); returned unchanged.

    Raises:
        InvalidFieldError: (``component``) as for ``feature_name``.
    """
    if not isinstance(value, str) or not NAME_CHARS.match(value):
        raise InvalidFieldError("component", f"{value!r} is not a fingerprint component name")
    return value


def counter_name(value: str) -> str:
    """A consumption counter's name (format §7.3, ``NAME_CHARS``); returned unchanged.

    Raises:
        InvalidFieldError: (``counter``) as for ``feature_name``.
    """
    if not isinstance(value, str) or not NAME_CHARS.match(value):
        raise InvalidFieldError("counter", f"{value!r} is not a valid counter name")
    return value


# --- a product's fingerprint policy ---------------------------------------------------------------


def min_components(value: int) -> int:
    """The fewest fingerprint components a product's activation requests may carry.

    Raises:
        InvalidFieldError: (``min_components``) not an integer from 2 to 64.
    """
    if type(value) is not int or not MIN_COMPONENTS <= value <= MAX_COMPONENTS:
        raise InvalidFieldError(
            "min_components",
            f"{value!r} is not in the range {MIN_COMPONENTS}<=x<={MAX_COMPONENTS}.",
        )
    return value


def required_components(names: Iterable[str]) -> list[str]:
    """Fingerprint components a product requires (machine-id is always added by the ledger).

    Raises:
        InvalidFieldError: (``component``) a name is not a component name.
    """
    return [component_name(name) for name in names]


# --- license terms ----------------------------------------------------------------------------


def license_type(value: str) -> str:
    """One of the license types of format §7 (``LICENSE_TYPES``).

    Raises:
        InvalidFieldError: (``type``) any other text.
    """
    if value not in LICENSE_TYPES:
        raise InvalidFieldError(
            "type", f"unknown license type {value!r} (one of: {', '.join(LICENSE_TYPES)})"
        )
    return value


def features(values: Mapping[str, Any]) -> None:
    """Features a license grants: their names, their values and how many.

    Raises:
        InvalidFieldError: (``feature``) a bad name, a value that is not null, a
            boolean, a 64-bit integer or text of at most 256 characters, or
            more than 256 features.
    """
    if len(values) > MAX_FEATURES:
        raise InvalidFieldError("feature", f"a license grants at most {MAX_FEATURES} features")
    for name, value in values.items():
        feature_name(name)
        try:
            scalar_field(value, f"feature {name!r}")
        except LicenseError as exc:
            raise InvalidFieldError("feature", str(exc)) from None


def product_features(values: Iterable[str], declared: Iterable[str], product: str) -> None:
    """Every feature granted is one the product declares (a product declaring none allows any).

    Raises:
        InvalidFieldError: (``product_features``) a feature ``product`` does not declare.
    """
    known = list(declared)
    unknown = sorted(set(values) - set(known))
    if known and unknown:
        raise InvalidFieldError(
            "product_features",
            f"product {product!r} has no feature {unknown[0]!r} (known: {', '.join(known)})",
        )


def version(value: str) -> str:
    """A version gate's newest allowed version: 1 to 4 dotted parts of 1 to 9 digits.

    Raises:
        InvalidFieldError: (``max_version``) anything else (``v2``, ``2.x``).
    """
    if not isinstance(value, str) or not version_text_ok(value):
        raise InvalidFieldError("max_version", f"{value!r}: use a version like 2.9 or 2.9.1")
    return value


def device_match(value: str | int) -> str | int:
    """How many fingerprint components must match: ``all``, ``most`` or a count from 1 to 64.

    Args:
        value: the word, a count, or a count as decimal text (``"3"``).

    Returns:
        The word, or the count as an int.

    Raises:
        InvalidFieldError: (``device_match``) anything else.
    """
    if value in DEVICE_MATCH_WORDS:
        return value
    text = str(value) if type(value) is int else value
    digits = isinstance(text, str) and text.isascii() and text.isdigit()
    if digits and 1 <= int(text) <= MAX_COMPONENTS:
        return int(text)
    raise InvalidFieldError(
        "device_match",
        f"{value!r}: use all, most or a number of components from 1 to {MAX_COMPONENTS}",
    )


def counter(name: str, limit: int, overage: int = 0) -> tuple[str, int, int]:
    """A consumption counter: a name, a limit and an overage allowed beyond it.

    Raises:
        InvalidFieldError: (``counter``) a bad name, or a limit or overage that
            is not an integer from 0 to 2**63 - 1.
    """
    counter_name(name)
    for what, value in (("limit", limit), ("overage", overage)):
        if type(value) is not int or not 0 <= value <= MAX_COUNTER:
            raise InvalidFieldError(
                "counter",
                f"counter {name!r}: the {what} must be an integer from 0 to {MAX_COUNTER}",
            )
    return name, limit, overage


def counter_spec(text: str) -> tuple[str, int, int]:
    """A counter written ``NAME=LIMIT`` or ``NAME=LIMIT+OVERAGE`` (``pages=1000+50``).

    Returns:
        The name, the limit and the overage (0 when not given).

    Raises:
        InvalidFieldError: (``counter``) not of that form, a bad name, or a
            number of more than 18 digits.
    """
    name, _, amounts = text.partition("=")
    limit, plus, overage = amounts.partition("+")
    numbers = [limit, overage] if plus else [limit]
    if (
        not NAME_CHARS.match(name)
        or not all(n.isascii() and n.isdigit() and len(n) <= _COUNTER_DIGITS for n in numbers)
    ):  # fmt: skip
        raise InvalidFieldError("counter", f"{text!r}: use NAME=LIMIT or NAME=LIMIT+OVERAGE")
    return counter(name, int(limit), int(overage) if plus else 0)


def users(values: Iterable[str]) -> tuple[str, ...]:
    """Allowed users in the one form they are stored and compared in (format §7, ``normalize_users``).

    Raises:
        InvalidFieldError: (``user``) an invisible or control character (the
            message names its code point), or two users that are the same once
            normalized.
    """
    try:
        return normalize_users(values)
    except ValueError as exc:
        raise InvalidFieldError("user", str(exc)) from None


def expiry(license_type: str, start: int, expires: int | None) -> None:
    """The expiry fits the license type and comes after the start of validity (format §7.2).

    Raises:
        InvalidFieldError: (``expires``) a time-limited or subscription license
            without one, a perpetual license with one, or an expiry not after
            ``start``.
    """
    if expires is None and license_type in EXPIRING_TYPES:
        raise InvalidFieldError(
            "expires", f"a {license_type} license needs --expires or --duration"
        )
    if expires is not None and license_type == "perpetual":
        raise InvalidFieldError(
            "expires", "a perpetual license cannot have an expiry; use type time-limited"
        )
    if expires is not None and expires <= start:
        raise InvalidFieldError("expires", "the expiry must be after the start of validity")


def combination(
    license_type: str, *, expires: bool, duration: bool, lease: bool, counters: bool,
    after_activation: bool = False, maintain: bool = False,
) -> None:  # fmt: skip
    """Terms that contradict each other whatever the dates (format §7.2).

    Args:
        license_type: the license type.
        expires: whether an expiry date is given.
        duration: whether a duration (instead of a date) is given.
        lease: whether a lease duration is given.
        counters: whether any counter is given.
        after_activation: whether an expiry counted from the first activation is given.
        maintain: whether the license keeps working after expiry (at_expiry maintain).

    Raises:
        InvalidFieldError: (``expires``) both an expiry date and a duration;
            (``expires_after_activation``) with a date or duration, or on a
            perpetual license; (``at_expiry``) maintain on a license that never
            expires; (``lease``) a lease for a license that is not floating;
            (``counters``) a consumption license without a counter.
    """
    if expires and duration:
        raise InvalidFieldError("expires", "give either an expiry date or a duration, not both")
    if after_activation and (expires or duration or license_type == "perpetual"):
        raise InvalidFieldError(
            "expires_after_activation",
            "--expires-after-activation replaces --expires and --duration, and a perpetual "
            "license cannot expire",
        )
    ends = expires or duration or after_activation or license_type in EXPIRING_TYPES
    if maintain and not ends:
        raise InvalidFieldError("at_expiry", "--at-expiry applies only to a license that expires")
    if lease and license_type != "floating":
        raise InvalidFieldError("lease", "a lease duration applies only to floating licenses")
    if license_type == "consumption" and not counters:
        raise InvalidFieldError(
            "counters", "a consumption license needs at least one --counter NAME=LIMIT"
        )


def grace(seconds: int, expires: int | None, after_activation: bool = False) -> int:
    """A grace period after the expiry: only with an expiry, fixed or counted from the
    first activation (format §7.2).

    Raises:
        InvalidFieldError: (``grace``) a grace period without an expiry.
    """
    if seconds and expires is None and not after_activation:
        raise InvalidFieldError("grace", "a grace period needs an expiry")
    return seconds


def refresh(seconds: int) -> int:
    """How often an activation must be renewed: from an hour to ten years (format §7.1).

    Raises:
        InvalidFieldError: (``refresh``) outside those bounds.
    """
    if not MIN_REFRESH <= seconds <= MAX_REFRESH:
        raise InvalidFieldError("refresh", "--refresh must be from 1h to 10y (e.g. 30d, 3mo, 1y)")
    return seconds


def at_expiry(value: str) -> str:
    """What a license does after its expiry and grace: restrict (stop) or maintain
    (keep working, flagged) (format §7.1).

    Raises:
        InvalidFieldError: (``at_expiry``) anything else.
    """
    if value not in AT_EXPIRY:
        raise InvalidFieldError("at_expiry", "--at-expiry must be restrict or maintain")
    return value


def activation_term(seconds: int) -> int:
    """Validity counted from the first activation: from an hour to ten years (format §7.1).

    Raises:
        InvalidFieldError: (``expires_after_activation``) outside those bounds.
    """
    if not MIN_ACTIVATION_TERM <= seconds <= MAX_ACTIVATION_TERM:
        raise InvalidFieldError(
            "expires_after_activation",
            "--expires-after-activation must be from 1h to 10y (e.g. 30d, 3mo, 1y)",
        )
    return seconds


def limit(value: int | None, what: str) -> int | None:
    """A seat limit: None (unlimited) or an integer from 0 to 2**32 - 1 (format §7.3).

    Raises:
        InvalidFieldError: (``limits``) anything else.
    """
    if value is not None and (type(value) is not int or not 0 <= value <= MAX_LIMIT):
        raise InvalidFieldError("limits", f"{what} must be an integer from 0 to {MAX_LIMIT}")
    return value
