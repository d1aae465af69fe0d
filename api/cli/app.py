"""The root typer app that command modules register on."""

import typer

app = typer.Typer(
    name="bazkhord",
    help="Bazkhord (بازخورد): Persian customer-feedback analytics — text pipeline, models, service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
