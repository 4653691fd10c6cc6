"""The Typer app: parse arguments, call a service, render. One module per command group."""
