"""Sources: where documents come from.

Each source kind has a module here; ``config.SOURCE_KINDS`` declares each kind's options. Today there
is one kind, ``folder`` (:mod:`monitor.sources.folder`).
"""
