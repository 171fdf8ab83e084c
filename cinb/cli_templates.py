"""The ``cinb templates`` command: list the report templates shipped with cinb, and copy one to start from.

``cinb templates`` (or ``cinb templates list``) prints each shipped notebook with the kind of pack it renders and
its parameters (name, type, default and meaning, read from its ``parameters`` cell, as ``papermill
--help-notebook`` does); ``cinb templates copy NAME DEST [--force]`` writes a copy to edit and run with
``cinb run --template`` or ``cinb batch --template``. See :mod:`cinb.notebook_templates`.
"""

from __future__ import annotations

import argparse

#: What each shipped template is for, by name (shown by ``cinb templates``).
USES = {
    "contract": "contract packs: cinb run, cinb batch --template contract=PATH",
    "portfolio": "the portfolio pack: cinb batch --template portfolio=PATH",
    "supplier": "supplier scorecards: cinb batch --template supplier=PATH",
    "explore": "JupyterLab: ad-hoc analysis of a portfolio (cinb does not render it)",
}


def register(subparsers) -> None:
    """Add ``templates`` (with its ``list`` and ``copy`` actions) to the ``cinb`` subcommands ``subparsers``."""
    p = subparsers.add_parser(
        "templates", help="list the report templates (pack notebooks) and copy one to make your own",
        description="List the report templates shipped with cinb and their parameters, or copy one to edit. A "
                    "copy (any notebook with a cell tagged parameters) runs with cinb run --template PATH or "
                    "cinb batch --template KIND=PATH.")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="list the shipped templates and their parameters (the default)",
                       description="List the shipped templates and their parameters.")
    c = actions.add_parser("copy", help="write a copy of a shipped template to edit",
                           description="Write a copy of a shipped template to edit: NAME is contract, portfolio, "
                                       "supplier, explore or its file name; DEST a folder or a file name ending "
                                       "in .ipynb.")
    c.add_argument("name", metavar="NAME", help="contract, portfolio, supplier, explore (or the file name)")
    # Text, not a Path: a trailing "/" (a folder to create) must survive.
    c.add_argument("dest", metavar="DEST", help="a folder (ending in / if it is to be made), or a file name ending "
                                                "in .ipynb")
    c.add_argument("--force", action="store_true", help="overwrite DEST if it exists")
    p.set_defaults(func=cmd_templates)


def cmd_templates(args: argparse.Namespace) -> int:
    """``cinb templates [list]`` prints the shipped templates; ``cinb templates copy`` writes a copy. Returns 0.

    Raises UsageError (exit 2) for an unknown template name, a destination that exists (without ``--force``) or
    is not an ``.ipynb`` file name.
    """
    from .notebook_templates import copy_template

    if args.action == "copy":
        print(copy_template(args.name, args.dest, force=args.force))
        return 0
    for line in template_lines():
        print(line)
    return 0


def template_lines() -> list[str]:
    """The listing of ``cinb templates``: each shipped template, its use and parameters, then how to use one."""
    from .config import notebook_dir
    from .notebook_templates import shipped_templates

    folder = notebook_dir()
    lines = [f"Report templates shipped with cinb (in {folder}):"]
    for template in shipped_templates(folder):
        lines += ["", f"{template.name}: {template.path.name} — {template.title}",
                  f"  for {USES.get(template.name, template.kind or '')}", "  parameters:"]
        # As the cell declares them: name: type = default  # meaning
        left = [p.name + (f": {p.type}" if p.type else "") for p in template.parameters]
        defaults = ["" if p.default is None else f" = {p.default}" for p in template.parameters]
        w1, w2 = max(map(len, left), default=0), max(map(len, defaults), default=0)
        for p, name, default in zip(template.parameters, left, defaults):
            lines.append(f"    {name:<{w1}}{default:<{w2}}" + (f"  # {p.help}" if p.help else "").rstrip())
    lines += ["",
              "Make your own: cinb templates copy contract my_review.ipynb  (edit it in JupyterLab; keep the "
              "parameters cell)",
              "Run it:        cinb run ID --period YYYY-MM --template my_review.ipynb",
              "               cinb batch --period YYYY-MM --template contract=my_review.ipynb"]
    return lines
