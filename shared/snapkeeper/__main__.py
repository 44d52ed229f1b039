"""`python -m snapkeeper`: the operator CLI."""

from snapkeeper.cli import main

main()
