"""``python -m supportdesk.cli``."""

from supportdesk.cli import main

main()
