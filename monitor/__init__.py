"""corpus-monitor: watches news coverage and emails digests of what is genuinely new."""

__version__ = "0.1.0"
