"""The Python API of the commands: everything ``cinb run``, ``cinb batch`` and ``cinb demo`` do, callable.

The command line (:mod:`cinb.cli`) parses arguments and calls one function here; a notebook or a scheduler
(Airflow, cron, a Dask job) calls the same functions and gets the same packs, the same parameter layering
and the same defaults::

    import cinb
    batch = cinb.run_month("2026-10", data="exports/", formats=["html"])
    result = cinb.run_pack("NB-SD-001", "2026-10", audience="supplier")

Parameters are layered, lowest first: the package defaults (:data:`cinb.config.DEFAULTS`) < the files in
``parameters/*.yml`` < a batch definition (``config=FILE.yml``) < the keyword arguments given here. A keyword
left at ``None`` does not override a lower layer. ``pdf_backend="auto"`` (the default) is resolved once, here,
so every pack of a run is printed by the same backend and records it.

``templates=`` runs a report template (any notebook with a ``parameters`` cell) instead of the shipped notebook
of a kind: a path (contract packs) or a mapping of kind to path, over the batch definition's ``templates:``.
Each is checked against the parameters cinb passes before anything starts (:mod:`cinb.notebook_templates`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from . import batch as _batch
from .batch import BatchResult, plan, recorded_settings, summary_lines
from .formatting import plural
from .audience import run_for_audience
from .batchfile import KINDS, BatchDefinition, load_definition, parse_kinds
from .config import merge_parameters
from .errors import UsageError
from .load import Portfolio, load_portfolio
from .lock import PeriodLock
from .manifest import Manifest
from .notebook_templates import check_template, template_mapping
from .pack import PackResult, PackSpec, build_pack, clean_staging
from .reconcile import parse_tolerance
from .periods import parse_month
from .regimes import step_of
from .render import resolve_backend

#: Parameters the notebooks take; the rest of the merged parameters steer the run (formats, jobs, backend …).
NOTEBOOK_PARAMETERS = ("data", "marking", "audience", "window_months", "ratchet_months", "ratchet_share",
                       "default_tolerance_pct", "spc_min_points", "as_of", "rate_on", "reconcile_tolerance",
                       "definitions", "_parameter_files")


def settings(parameters: dict[str, Any] | None = None, *, config: str | Path | BatchDefinition | None = None,
             folder: Path | None = None) -> dict[str, Any]:
    """The merged, checked parameters of a run, with ``pdf_backend`` resolved to the printer that will be used.

    Parameters
    ----------
    parameters : dict, optional
        The highest layer (keys of :data:`cinb.config.DEFAULTS`; ``None`` values are "not given").
    config : path or BatchDefinition, optional
        A batch definition; its parameters sit between ``parameters/*.yml`` and ``parameters``.
    folder : Path, optional
        The folder of parameter files (default: ``$CINB_PARAMETERS`` or the checkout's ``parameters/``).

    Returns
    -------
    dict
        See :func:`cinb.config.merge_parameters`; ``pdf_backend`` is ``"chromium"`` or ``"weasyprint"``.

    Raises
    ------
    UsageError
        An unknown parameter, or a value of the wrong type or range, naming the layer it came from.
    """
    definition = _definition(config)
    parameters = dict(parameters or {})
    given_by = parameters.pop("_given_by", "the arguments")  # the CLI says "the command line"
    merged = merge_parameters(parameters, folder, definition=definition.parameters,
                              definition_path=definition.path, given_by=given_by)
    merged["pdf_backend"] = resolve_backend(merged["pdf_backend"])
    parse_tolerance(merged.get("reconcile_tolerance"))  # units and amounts, before any pack runs
    return merged


def run_pack(contract_id: str, period: str, *, out: str | Path = "reports", config: str | Path | None = None,
             data: str | Path | None = None, templates: Any = None, **parameters: Any) -> PackResult:
    """Build one contract's review pack for one month, as ``cinb run`` does, and record it in the month's manifest.

    Parameters
    ----------
    contract_id : str
        A ``contract_id`` of the portfolio.
    period : str
        The month reviewed, ``YYYY-MM``; it may not be after the latest month in the data.
    out : path
        The reports folder; the pack goes to ``<out>/<period>/<contract_id>/``.
    config : path, optional
        A batch definition whose parameters apply (its period/contracts/kinds are ignored here).
    data : path or URL, optional
        A folder of CSV files, an ``.xlsx`` workbook or a database URL (each pack's kernel loads it too);
        default: a lower layer's ``data``, else the sample portfolio.
    templates : path or mapping, optional
        A report template to run instead of the shipped contract notebook: its path, or ``{"contract": path}``
        (default: the batch definition's ``templates: contract``, else the shipped one).
    **parameters
        Any of :data:`cinb.config.DEFAULTS` (``formats``, ``audience``, ``marking``, ``pdf_backend``,
        ``timeout``, ``window_months``, ``ratchet_months``, ``ratchet_share``, ``as_of``). ``as_of`` (a store
        batch id, or an ISO timestamp: the last batch at or before it) rebuilds the pack from the data as it
        stood then; it needs ``data`` to be a cinb store's URL (``sqlite:///reports/store.sqlite``). It is
        passed to the notebook (``load_portfolio(data, as_of=as_of)``), is part of the pack's input hash, and is
        recorded in ``pack.json`` (``reproducibility.as_of``), the appendix's stamp and the manifest.

    Returns
    -------
    PackResult
        ``status`` ``"ok"`` with ``files`` (kind → path relative to ``<out>/<period>``), or ``"failed"`` with
        ``error`` and the diagnostics folder in ``failure``. A failed pack is never published.

    Raises
    ------
    UsageError
        Unknown contract, malformed or too-late period, bad parameter, ``as_of`` without a store URL or naming
        no batch of the store, a template that is not a notebook or whose parameters do not match a contract
        pack's (or that does not take ``as_of`` when one is given), or the month folder is locked.
    cinb.errors.DataError
        The data breaks the data contract.
    """
    period = parse_month(period)
    definition = _definition(config)
    params = settings(_with_data(parameters, data), config=definition)
    given = template_mapping(templates)
    others = sorted(set(given) - {"contract"})
    if others:
        raise UsageError(f"cinb run builds a contract pack: a template for {', '.join(others)} packs applies to "
                         "cinb batch (give PATH or contract=PATH here)")
    chosen = checked_templates({**definition.options.get("templates", {}), **given}, params, kinds=("contract",))
    # The pack's kernel starts now and imports what the notebook needs while the data are loaded and checked here.
    kernel = _OneKernel()
    try:
        portfolio = load_portfolio(params["data"], as_of=params["as_of"])
        portfolio.contract(contract_id)  # UsageError with "did you mean" for an unknown id
        check_period_in_data(portfolio, period, [contract_id])
        spec = plan(portfolio, period, notebook_parameters(params), [contract_id], kinds=("contract",),
                    formats=tuple(params["formats"]), pdf_backend=params["pdf_backend"], templates=chosen)[0]
        period_dir = Path(out) / period
        # The same lock as a batch: a run and a batch never write the same month at once.
        with PeriodLock(period_dir, command="cinb run"):
            clean_staging(period_dir)
            # The contract's rows, loaded and validated here, are handed to the kernel (cinb.snapshot).
            spec = _with_contract_snapshot(spec, portfolio.contract(contract_id), period_dir)
            try:
                result = build_pack(spec, Path(out), formats=tuple(params["formats"]), timeout=params["timeout"],
                                    pdf_backend=params["pdf_backend"], kernels=kernel)
            finally:
                clean_staging(period_dir)
            run = {"command": "run", "settings": recorded_settings(params),
                   "parameter_files": params.get("_parameter_files", [])}
            if chosen:
                run["templates"] = {kind: str(path) for kind, path in chosen.items()}
            if params["as_of"] is not None:
                run["as_of"] = as_of_record(params["data"], params["as_of"])
            Manifest(period_dir, run=run_for_audience(run, params["audience"])).record([result])
    finally:
        kernel.close()
    return result


def run_month(period: str | None = None, *, contracts: Iterable[str] | None = None,
              kinds: Iterable[str] | str | None = None, out: str | Path | None = None, force: bool | None = None,
              scheduler: Any = None, config: str | Path | BatchDefinition | None = None,
              data: str | Path | None = None, templates: Any = None, **parameters: Any) -> BatchResult:
    """Build a month's packs in parallel, as ``cinb batch`` does: contract packs, portfolio pack, scorecards.

    Parameters
    ----------
    period : str, optional
        ``YYYY-MM``; required unless the batch definition gives ``period:``.
    contracts : list of str, optional
        Only these contracts (default: every contract; the definition's ``contracts:``).
    kinds : str or list, optional
        Some of ``contract``, ``portfolio``, ``supplier`` (default all three, or the definition's ``kinds:``).
    out : path, optional
        The reports folder (default: the definition's ``out:`` or ``reports``).
    force : bool, optional
        Rebuild packs whose inputs are unchanged (default: the definition's ``force:`` or False).
    scheduler : str or Dask cluster, optional
        Run the packs on a Dask scheduler (``tcp://host:port``) instead of local worker processes.
    config : path or BatchDefinition, optional
        A batch definition (YAML); see ``parameters/README.md``.
    templates : path or mapping, optional
        Report templates run instead of the shipped notebooks: a mapping of kind (``contract``, ``portfolio``,
        ``supplier``) to a notebook's path, or one path for the contract packs; each kind given overrides the
        definition's ``templates:``. Checked before anything runs; a changed template rebuilds its packs.
    data, **parameters
        As for :func:`run_pack`, plus ``jobs`` (worker processes, default one per core).

    Returns
    -------
    BatchResult
        Every pack's :class:`~cinb.pack.PackResult` (built, skipped as unchanged, or failed), the run's time
        and the backend that printed the PDFs; ``failed`` lists the failures.

    Raises
    ------
    UsageError
        No period, unknown contract, bad parameter, a template that is not a notebook or whose parameters do not
        match its kind's, or the month folder is locked by another run.
    cinb.errors.DataError
        The data breaks the data contract.
    """
    return _month(period, contracts=contracts, kinds=kinds, out=out, force=force, scheduler=scheduler,
                  config=config, data=data, parameters=parameters, command="batch", templates=templates)


def _month(period, *, contracts, kinds, out, force, scheduler, config, data, parameters, command,
           sample_only: bool = False, templates: Any = None) -> BatchResult:
    from .kernels import discard_prestarted_zygote

    try:
        return _month_run(period, contracts=contracts, kinds=kinds, out=out, force=force, scheduler=scheduler,
                          config=config, data=data, parameters=parameters, command=command,
                          sample_only=sample_only, templates=templates)
    finally:
        discard_prestarted_zygote()  # started for a local pool that did not run (an error, nothing to build)


def _month_run(period, *, contracts, kinds, out, force, scheduler, config, data, parameters, command,
               sample_only: bool, templates: Any) -> BatchResult:
    definition = _definition(config)
    options = definition.options
    params = settings(_with_data(parameters, data), config=definition)
    chosen = checked_templates({**options.get("templates", {}), **template_mapping(templates)}, params)
    if not scheduler and not options.get("scheduler"):
        # Start the local pool's fork server and kernel zygote before the data is loaded: their imports overlap
        # the loading.
        from .pool import prestart

        prestart(params["pdf_backend"] if "pdf" in params["formats"] else None)
    portfolio = load_portfolio(None if sample_only else params["data"], as_of=None if sample_only else params["as_of"])
    if sample_only:
        params["data"] = params["as_of"] = None
        period = str(portfolio.measurements["period"].max())
        print(f"cinb demo: sample portfolio, {plural(len(portfolio.contracts), 'contract')}, period {period}",
              file=sys.stderr)
    if period is None and options.get("period"):
        period = options["period"]
    if period is None:
        raise UsageError("give the month to report: --period YYYY-MM (or period: in the --config file)")
    period = parse_month(period)
    if isinstance(contracts, str):
        contracts = [contracts]  # one id, not its letters
    contracts = list(contracts) if contracts else options.get("contracts")
    kinds = parse_kinds(kinds) if kinds else options.get("kinds", list(KINDS))
    out = Path(out or options.get("out") or "reports")
    scheduler = scheduler or options.get("scheduler")
    force = bool(force if force is not None else options.get("force", False))
    for cid in contracts or []:
        portfolio.contract(cid)
    check_period_in_data(portfolio, period, contracts if "contract" in kinds else ())
    formats = tuple(params["formats"])
    specs = plan(portfolio, period, notebook_parameters(params), contracts, kinds, formats=formats,
                 pdf_backend=params["pdf_backend"], templates=chosen)
    run_info = {"command": command, "settings": recorded_settings(params),
                "parameter_files": params.get("_parameter_files", []), "kinds": list(kinds),
                "contracts": list(contracts) if contracts else None}
    if chosen:
        run_info["templates"] = {kind: str(path) for kind, path in chosen.items()}
    if params["as_of"] is not None:
        run_info["as_of"] = as_of_record(params["data"], params["as_of"])
    # The portfolio, loaded and validated once here, is written once to a snapshot that each pack reads its own
    # contracts from (cinb.snapshot), instead of every kernel loading and validating the whole data again.
    return _batch.run_batch(specs, out, jobs=params["jobs"], formats=formats, timeout=params["timeout"],
                            pdf_backend=params["pdf_backend"], force=force, scheduler=scheduler,
                            run_info=run_for_audience(run_info, params["audience"]), portfolio=portfolio)


def demo(*, out: str | Path = "reports", force: bool = False, **parameters: Any) -> BatchResult:
    """Every pack of the embedded sample portfolio's latest month, as ``cinb demo`` does.

    Takes the keyword arguments of :func:`run_month` except ``period`` (the sample's latest month) and ``data``
    (always the sample: any ``data`` in a parameter file is ignored). Returns the :class:`~cinb.batch.BatchResult`.
    """
    if parameters.get("data") is not None:
        raise UsageError("the demo always uses the sample portfolio; use run_month(data=...) for other data")
    parameters.pop("data", None)
    return _month(None, contracts=None, kinds=None, out=out, force=force, scheduler=None, config=None,
                  data=None, parameters=parameters, command="demo", sample_only=True)


def notebook_parameters(params: dict[str, Any]) -> dict[str, Any]:
    """The subset of merged parameters the pack notebooks take, plus ``_settings`` (all of them, recorded)."""
    out = {k: params[k] for k in NOTEBOOK_PARAMETERS if k in params}
    if out.get("data") is not None:
        out["data"] = str(out["data"])
    if out.get("definitions") is not None:
        out["definitions"] = str(out["definitions"])
    out["_settings"] = recorded_settings(params)
    return out


def checked_templates(templates: dict[str, Path], params: dict[str, Any],
                      kinds: Iterable[str] = KINDS) -> dict[str, Path]:
    """The report templates of a run, each checked against the parameters cinb passes to its kind; by kind.

    ``templates`` maps kinds to notebook paths (relative ones: to the current folder); ``params`` are the merged
    parameters (:func:`settings`). Kinds not in ``kinds`` are left out. Returns absolute paths.

    Raises
    ------
    UsageError
        A template that does not exist, is not a notebook, has no ``parameters`` cell, or declares a parameter
        cinb does not pass / lacks one its kind needs (:func:`cinb.notebook_templates.check_template`).
    """
    passing = notebook_parameters(params)
    chosen = {}
    for kind, path in templates.items():
        if kind not in kinds:
            continue
        spec = PackSpec(kind, None if kind == "portfolio" else "-", "2000-01", passing)
        # ``snapshot`` is passed too (cinb batch's data snapshot; a template may read it, as the shipped ones do).
        declared = check_template(path, kind, [*spec.notebook_parameters(), "snapshot"])
        if params.get("as_of") is not None and "as_of" not in {p.name for p in declared}:
            raise UsageError(f"template {path}: its parameters cell does not declare 'as_of', so with as_of "
                             f"{params['as_of']!r} it would render today's data as if it were the data of then; add "
                             "as_of: \"Optional[str]\" = None to its parameters cell and load the data with "
                             "load_portfolio(data, as_of=as_of)")
        chosen[kind] = Path(path).resolve()
    return chosen


def as_of_record(data, as_of) -> dict[str, Any]:
    """What ``as_of`` names in the store ``data`` (a URL): ``{"as_of", "batch_id", "ingested_at", "source"}``.

    ``as_of`` is a batch id or an ISO timestamp (the last batch at or before it, as
    :func:`cinb.load.load_portfolio` reads it); ``source`` is the file that batch ingested. Recorded in the
    manifest's ``last_run``.

    Raises
    ------
    UsageError
        The store cannot be read, or ``as_of`` names no batch of it.
    """
    from .store import as_of_batch

    return {"as_of": str(as_of), **as_of_batch(data, as_of)}


def check_period_in_data(portfolio: Portfolio, period: str, contracts: Iterable[str] | None = None) -> None:
    """Raise `UsageError` when there is nothing to review for ``period``, before any kernel starts.

    ``period`` is a ``YYYY-MM`` text. Refused: a month after the latest month with measurements (or, where KPIs
    are reported quarterly or yearly, after the months until their next value is due: a quarterly portfolio whose
    last quarter ended in September may be reviewed in October and November), a month before the earliest one,
    and (for the contract ids in ``contracts``; ``None`` means every contract) a month before a contract's first
    measurement — each pack would fail in its kernel otherwise.
    """
    periods = portfolio.measurements["period"]
    if not len(periods):
        return
    freq = portfolio.kpis["frequency"] if "frequency" in portfolio.kpis else pd.Series([], dtype=object)
    slack = max([step_of(f) for f in freq] + [1]) - 1
    if str(periods.max() + slack) < period:
        between = f", and no value is due before {periods.max() + slack + 1}" if slack else ""
        raise UsageError(f"period {period} is after the latest month in the data ({periods.max()}{between}); "
                         "choose a month that has returns")
    if str(periods.min()) > period:
        raise UsageError(f"period {period} is before the earliest month in the data ({periods.min()}); "
                         "choose a month that has returns")
    firsts = portfolio.measurements.groupby("contract_id")["period"].min().astype(str)
    ids = list(portfolio.contracts["contract_id"]) if contracts is None else list(contracts)
    early = [f"{cid} (first month {firsts[cid]})" for cid in ids if cid in firsts.index and firsts[cid] > period]
    if early:
        raise UsageError(f"period {period} is before the first returns of {', '.join(early[:10])}"
                         f"{' …' if len(early) > 10 else ''}; choose a later month, or leave "
                         f"{'this contract' if len(early) == 1 else 'these contracts'} out with --contracts")


def report_failures(batch: BatchResult, stream=None) -> int:
    """Print the run's summary table and each failure with its reason; return the exit status (0 or 1)."""
    stream = stream or sys.stdout
    for line in summary_lines(batch):
        print(line, file=stream)
    for r in batch.failed:
        where = f" [diagnostics: {batch.out_root / batch.period / r.failure}]" if r.failure else ""
        print(f"  FAILED {r.key}: {r.error}{where}", file=sys.stderr)
    return 1 if batch.failed else 0


class _OneKernel:
    """The kernel of ``cinb run``'s one pack, started (and warming up) as soon as this is made.

    It has :class:`cinb.kernels.KernelSupply`'s ``take``/``prepare`` for :func:`cinb.pack.build_pack`, without a
    spare: nothing else will run. A kernel that cannot start here is left to ``build_pack``, which starts one
    itself and reports the failure as the pack's.
    """

    def __init__(self):
        from .errors import KernelError
        from .kernels import start_kernel, take_prestarted

        self._kernel = take_prestarted()  # `cinb run` starts it before importing this module
        if self._kernel is not None:
            return
        try:
            self._kernel = start_kernel(warm=True)
        except KernelError:
            self._kernel = None

    def take(self):
        """The kernel started earlier (None if it could not start: ``build_pack`` then starts one)."""
        kernel, self._kernel = self._kernel, None
        return kernel

    def prepare(self) -> None:
        """Nothing: a run builds one pack."""

    def close(self) -> None:
        """Shut the kernel down if it was never used (a usage error came first)."""
        kernel, self._kernel = self._kernel, None
        if kernel is not None:
            kernel.shutdown()


def _with_contract_snapshot(spec: PackSpec, part: Portfolio, period_dir: Path) -> PackSpec:
    """``spec`` reading its contract's rows from a snapshot in the staging folder (unchanged if it cannot be
    written: the notebook then loads the data itself)."""
    import secrets
    from dataclasses import replace

    from .pack import STAGING_DIR
    from .snapshot import write_snapshot

    try:
        folder = write_snapshot(part, Path(period_dir).resolve() / STAGING_DIR / f"snapshot-{secrets.token_hex(4)}")
    except OSError:
        return spec
    return replace(spec, snapshot=str(folder))


def _definition(config) -> BatchDefinition:
    if config is None:
        return BatchDefinition()
    if isinstance(config, BatchDefinition):
        return config
    return load_definition(config)


def _with_data(parameters: dict[str, Any], data) -> dict[str, Any]:
    out = dict(parameters)
    if data is not None:
        out["data"] = str(data)
    return out
