"""A batch definition: the YAML file given to ``cinb batch --config FILE.yml``.

It may set any parameter (see :data:`cinb.config.DEFAULTS`: ``data``, ``marking``, ``audience``,
``window_months``, ``formats``, ``pdf_backend``, ``jobs``, ``timeout``, ``ratchet_months``, ``ratchet_share``)
and what the batch covers (``period``, ``contracts``, ``kinds``, ``out``, ``scheduler``, ``force``), and the report
templates its packs run (``templates``: a mapping of kind to notebook, relative paths resolved against the
definition's folder; see :mod:`cinb.notebook_templates`).

Order of precedence, lowest first: package defaults < ``parameters/*.yml`` < the ``--config`` file < options
on the command line. The merged values and the files they came from are recorded in every pack's ``pack.json``
(``reproducibility``) and in the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import DEFAULTS, TYPED_SETTINGS
from .yamlfile import read_settings
from .errors import UsageError

#: Keys of a batch definition that are not notebook parameters.
BATCH_KEYS = ("period", "contracts", "kinds", "out", "scheduler", "force", "templates")
KINDS = ("contract", "portfolio", "supplier")


@dataclass(frozen=True)
class BatchDefinition:
    """What a ``--config`` file says: ``parameters`` (layered like ``parameters/`` files) and batch ``options``.

    ``path`` is the file read; ``parameters`` maps keys of `cinb.config.DEFAULTS` to their values as written;
    ``options`` maps keys of `BATCH_KEYS` to checked values (``period`` as text, ``contracts`` a list of str,
    ``kinds`` a list of `KINDS`, ``force`` a bool, ``templates`` a dict of kind to notebook path, relative paths
    resolved against the file's folder).
    """

    path: Path | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)


def load_definition(path: str | Path) -> BatchDefinition:
    """Read and check a batch definition (:func:`cinb.yamlfile.read_settings`: no tags, no objects, text as written).

    ``path`` is a str or Path of a UTF-8 YAML file holding a mapping; returns a `BatchDefinition`. The
    ``period`` is kept as text here (``cinb batch`` checks it is a month with `cinb.periods.parse_month`).

    Raises
    ------
    UsageError
        When the file is missing, not YAML, not a mapping, or has an unknown key or a value of the wrong kind;
        the message names the file and the key and lists the known keys.
    """
    from .hints import did_you_mean

    path = Path(path)
    # Identifiers, periods, markings and paths stay as written (contracts: [0451] is "0451", never 297).
    content = read_settings(path, typed=TYPED_SETTINGS, what=f"--config {path}")
    known = sorted(set(DEFAULTS) | set(BATCH_KEYS))
    parameters, options = {}, {}
    for key, value in content.items():
        if key not in known:
            hint = did_you_mean(str(key), known)
            raise UsageError(f"--config {path}: unknown key {key!r}" + (f"; {hint}" if hint else "") +
                             f" (known: {', '.join(known)})")
        (options if key in BATCH_KEYS else parameters)[key] = value
    _check(path, options)
    return BatchDefinition(path=path, parameters=parameters, options=options)


def _check(path: Path, options: dict[str, Any]) -> None:
    if "period" in options:
        options["period"] = str(options["period"])
    contracts = options.get("contracts")
    if contracts is not None:
        if isinstance(contracts, str):
            contracts = [contracts]
        if not isinstance(contracts, list) or not all(isinstance(c, (str, int)) for c in contracts):
            raise UsageError(f"--config {path}: contracts must be a list of contract ids")
        options["contracts"] = [str(c) for c in contracts]
    kinds = options.get("kinds")
    if kinds is not None:
        options["kinds"] = parse_kinds(kinds, where=f"--config {path}: kinds")
    if "force" in options and not isinstance(options["force"], bool):
        raise UsageError(f"--config {path}: force must be true or false")
    if "templates" in options:
        from .notebook_templates import template_mapping

        options["templates"] = template_mapping(options["templates"], where=f"--config {path}: templates",
                                                base=path.parent)


def parse_kinds(value, *, where: str = "--kinds") -> list[str]:
    """``contract,portfolio,supplier`` (a comma-separated string or a list) as a checked list.

    Returns the kinds stripped and lower-cased, in the order given. Raises UsageError (naming ``where``) when
    a kind is not one of `KINDS` or none is given.
    """
    items = value.split(",") if isinstance(value, str) else list(value or [])
    kinds = [str(k).strip().lower() for k in items if str(k).strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise UsageError(f"{where} takes some of {', '.join(KINDS)}, comma-separated; got {value!r}")
    return kinds
